from enum import StrEnum


class V1WorklistListOrder(StrEnum):
    ABNORMAL = "abnormal"
    NEWEST = "newest"
    OLDEST = "oldest"
    PRIORITY = "priority"
    TRIAGE = "triage"
    UNCERTAIN = "uncertain"

    def __str__(self) -> str:
        return str(self.value)
