from enum import StrEnum


class ModalityEnum(StrEnum):
    CR = "CR"
    CT = "CT"
    DX = "DX"
    MR = "MR"
    OT = "OT"

    def __str__(self) -> str:
        return str(self.value)
