"""A producer of the `producers.json` example: puts orders into the Kinesis stream
`orders` and raw click lines into the Firehose `raw-clicks`, with plain boto3.

    tributary run projects/producers.json --serve          # or Serve in the app, then Run
    AWS_ENDPOINT_URL=http://127.0.0.1:4566 python projects/producers/put_orders.py 2000

boto3 reads AWS_ENDPOINT_URL itself; nothing here knows it talks to Tributary. One order
in each batch of 100 lacks its customer, so the stream sends it to its failed output.
"""
import datetime
import json
import os
import random
import sys

import boto3

os.environ.setdefault("AWS_ACCESS_KEY_ID", "test")
os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "test")
os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")

count = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
kinesis = boto3.client("kinesis")
firehose = boto3.client("firehose")
rng = random.Random(7)
# Orders 20 ms apart, ending now: event time spans count / 50 seconds, so the example's
# 10 s windows close and its chart fills.
now = datetime.datetime.now(datetime.timezone.utc)
first = now - datetime.timedelta(milliseconds=20 * count)
statuses = ["placed", "paid", "shipped", "cancelled"]
put = failed = 0
for start in range(0, count, 100):
    records = []
    for i in range(start, min(count, start + 100)):
        order = {
            "order_id": i,
            "customer": f"c{rng.randrange(300)}",
            "amount": round(rng.uniform(5, 250), 2),
            "status": rng.choice(statuses),
            "created_at": (first + datetime.timedelta(milliseconds=20 * i)).isoformat(),
        }
        if i % 100 == 99:
            del order["customer"]  # does not fit: goes to the stream's failed output
        records.append({"Data": json.dumps(order).encode(), "PartitionKey": f"c{i % 300}"})
    response = kinesis.put_records(StreamName="orders", Records=records)
    failed += response["FailedRecordCount"]
    put += len(records) - response["FailedRecordCount"]
clicks = [{"Data": f"{datetime.datetime.now().isoformat()} GET /p{i}\n".encode()} for i in range(10)]
firehose.put_record_batch(DeliveryStreamName="raw-clicks", Records=clicks)
summary = kinesis.describe_stream_summary(StreamName="orders")["StreamDescriptionSummary"]
print(f"put {put} orders into {summary['StreamARN']} ({summary['OpenShardCount']} shards), "
      f"{failed} refused, and {len(clicks)} click lines into raw-clicks")
