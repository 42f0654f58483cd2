from enum import StrEnum


class KindEnum(StrEnum):
    FHIR = "fhir"
    FINAL_SR = "final_sr"
    SC = "sc"
    SR = "sr"

    def __str__(self) -> str:
        return str(self.value)
