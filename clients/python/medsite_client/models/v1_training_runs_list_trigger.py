from enum import StrEnum


class V1TrainingRunsListTrigger(StrEnum):
    COMMAND = "command"
    MANUAL = "manual"
    QUEUE = "queue"

    def __str__(self) -> str:
        return str(self.value)
