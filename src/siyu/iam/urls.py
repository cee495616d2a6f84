# Placeholder created by the console shell so the console can mount it; the iam owner replaces it.
urlpatterns = []
