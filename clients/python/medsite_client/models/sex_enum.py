from enum import StrEnum


class SexEnum(StrEnum):
    F = "F"
    M = "M"
    O = "O"
    U = "U"

    def __str__(self) -> str:
        return str(self.value)
