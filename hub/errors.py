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


class PasswordChangeRequiredError(ForbiddenError):
    """The user holds a one-time password: only the password change answers until it is set."""

    title = "Password change required"


class ConflictError(HubError):
    status = 409
    title = "Conflict"


class ReservedNameError(ConflictError, ValueError):
    """A name that belongs to something else already, e.g. a device id that is the hub's broker
    account. A ValueError too: callers of the broker accounts catch that."""

    title = "Reserved name"


class BusyError(HubError):
    """The hub refuses work it cannot queue now; the caller may retry shortly."""

    status = 503
    title = "Busy"

    def __init__(self, message: str, retry_after: int = 1) -> None:
        super().__init__(message)
        self.headers = {"Retry-After": str(retry_after)}


class DatabaseBusyError(BusyError):
    """The database refused a write for now (SQLite's "database is locked": another writer held
    its lock past the busy timeout). Nothing was changed; the caller may retry shortly."""

    title = "Database busy"


class SourceError(HubError):
    """A video source could not be opened or read."""

    status = 502
    title = "Video source error"
