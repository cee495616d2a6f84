from django.http import HttpRequest


def client_ip(request: HttpRequest) -> str | None:
    """The peer address (a proxy in front sets REMOTE_ADDR through its own configuration, not a header we trust)."""
    return request.META.get("REMOTE_ADDR")
