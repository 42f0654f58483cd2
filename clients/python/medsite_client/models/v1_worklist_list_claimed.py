from enum import StrEnum


class V1WorklistListClaimed(StrEnum):
    MINE = "mine"
    OTHERS = "others"
    UNCLAIMED = "unclaimed"

    def __str__(self) -> str:
        return str(self.value)
