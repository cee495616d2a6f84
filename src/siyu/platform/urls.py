# Placeholder created by the console shell so the console can mount it; the platform owner replaces it.
urlpatterns = []
