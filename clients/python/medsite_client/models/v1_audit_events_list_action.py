from enum import StrEnum


class V1AuditEventsListAction(StrEnum):
    ACTIVATE = "activate"
    BREAK_GLASS = "break_glass"
    CREATE = "create"
    DELETE = "delete"
    DENIED = "denied"
    DOWNLOAD = "download"
    EVALUATE = "evaluate"
    EXCLUDE = "exclude"
    LOGIN = "login"
    LOGIN_FAILED = "login_failed"
    LOGOUT = "logout"
    MFA_CHANGE = "mfa_change"
    MODEL_STATUS = "model_status"
    REVIEW = "review"
    ROLE_CHANGE = "role_change"
    ROLLBACK = "rollback"
    SEND = "send"
    TRAIN = "train"
    UPDATE = "update"
    VIEW = "view"

    def __str__(self) -> str:
        return str(self.value)
