"""One exception hierarchy for the hub. API handlers turn these into RFC 9457 problem details."""


class HubError(Exception):
    """Base of every error the hub raises on purpose."""

    status: int = 500
    title: str = "Internal error"


class SiteFileError(HubError):
    """The site file is missing, not YAML, or does not validate. The message names the line."""

    status = 422
    title = "Invalid site file"


class NotFoundError(HubError):
    status = 404
    title = "Not found"


class AuthError(HubError):
    status = 401
    title = "Not authenticated"


class ForbiddenError(HubError):
    status = 403
    title = "Forbidden"


class ConflictError(HubError):
    status = 409
    title = "Conflict"


class SourceError(HubError):
    """A video source could not be opened or read."""

    status = 502
    title = "Video source error"
