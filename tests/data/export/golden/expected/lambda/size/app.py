import base64
import json


def handler(event, context):
    """Tags each order with its size."""
    out = []
    for record in event["Records"]:
        order = json.loads(base64.b64decode(record["kinesis"]["data"]))
        order["size"] = "large" if order["amount"] >= 100 else "small"
        out.append(order)
    return out
