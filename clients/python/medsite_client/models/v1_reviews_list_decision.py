from enum import StrEnum


class V1ReviewsListDecision(StrEnum):
    CONFIRM = "confirm"
    CORRECT = "correct"
    UNCERTAIN = "uncertain"

    def __str__(self) -> str:
        return str(self.value)
