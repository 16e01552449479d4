"""``python -m modelcard``: print the card's JSON Schema (docs/model-card.schema.json)."""

import json

from modelcard import json_schema

print(json.dumps(json_schema(), indent=2, sort_keys=True))
