"""The OpenAPI schema as the Python client is generated from it (`make client`): read clients/openapi.yml, write JSON.

One change: an operation that takes a JSON body is described by its JSON body alone. The API also parses forms there
(DRF's default parsers, for the browsable API), and the schema says so, but openapi-python-client 0.29 cannot
generate an operation whose body comes in several content types of the same model: it sends all three at once and
names an `Unset` it does not import (openapi-generators/openapi-python-client#1451). Uploads, which take
multipart/form-data only, are left as they are.

Usage: python clients/client_schema.py clients/openapi.yml OUT.json
"""

import json
import sys

import yaml

JSON = "application/json"


def json_bodies_only(schema: dict) -> dict:
    for path_item in schema["paths"].values():
        for operation in path_item.values():
            content = operation.get("requestBody", {}).get("content", {}) if isinstance(operation, dict) else {}
            if JSON in content:
                for media_type in [media_type for media_type in content if media_type != JSON]:
                    del content[media_type]
    return schema


def main(source: str, target: str) -> None:
    with open(source, encoding="utf-8") as f:
        schema = yaml.safe_load(f)
    with open(target, "w", encoding="utf-8") as f:
        json.dump(json_bodies_only(schema), f, indent=1, ensure_ascii=False)
        f.write("\n")


if __name__ == "__main__":
    main(*sys.argv[1:])
