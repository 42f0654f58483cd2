from enum import StrEnum


class ModelVersionStatusEnum(StrEnum):
    ACTIVE = "active"
    CANDIDATE = "candidate"
    RETIRED = "retired"
    SHADOW = "shadow"

    def __str__(self) -> str:
        return str(self.value)
