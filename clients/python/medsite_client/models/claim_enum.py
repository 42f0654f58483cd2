from enum import StrEnum


class ClaimEnum(StrEnum):
    MINE = "mine"
    OTHER = "other"

    def __str__(self) -> str:
        return str(self.value)
