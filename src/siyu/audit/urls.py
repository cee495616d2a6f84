# Placeholder created by the console shell so the console can mount it; the audit owner replaces it.
urlpatterns = []
