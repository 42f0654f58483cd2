from enum import StrEnum


class TriggerEnum(StrEnum):
    COMMAND = "command"
    MANUAL = "manual"
    QUEUE = "queue"

    def __str__(self) -> str:
        return str(self.value)
