"""PutRecords load from several boto3 client processes, for benches/wire.rs.

Usage: wire_client.py ENDPOINT STREAM PROCESSES REQUESTS_PER_PROCESS [RECORDS_PER_REQUEST]
Each process sends REQUESTS_PER_PROCESS PutRecords calls of RECORDS_PER_REQUEST records
(~100-byte JSON clickstream events) and times each call. Prints one JSON line: records
accepted, failed, the wall time of the whole load, accepted records/s, and the p50/p99
request latency in ms.
"""
import json
import multiprocessing as mp
import sys
import time


def worker(args):
    endpoint, stream, requests, per_request, index = args
    import boto3
    from botocore.config import Config

    client = boto3.client(
        "kinesis",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="test",
        aws_secret_access_key="test",
        config=Config(retries={"max_attempts": 1}),
    )
    latencies = []
    accepted = failed = 0
    for r in range(requests):
        records = [
            {
                "Data": json.dumps(
                    {"event_id": (index * requests + r) * per_request + i,
                     "user_id": "u%d" % ((r * per_request + i) % 5000),
                     "page": "/p%d" % (i % 50), "amount": i * 0.5}
                ).encode(),
                "PartitionKey": "u%d" % ((r * per_request + i) % 5000),
            }
            for i in range(per_request)
        ]
        t = time.perf_counter()
        resp = client.put_records(StreamName=stream, Records=records)
        latencies.append(time.perf_counter() - t)
        failed += resp["FailedRecordCount"]
        accepted += per_request - resp["FailedRecordCount"]
    return accepted, failed, latencies


def main():
    endpoint, stream, processes, requests = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    per_request = int(sys.argv[5]) if len(sys.argv) > 5 else 500
    with mp.Pool(processes) as pool:
        # Clients import boto3 before the clock starts.
        pool.map(lambda_noop, range(processes))
        start = time.perf_counter()
        results = pool.map(worker, [(endpoint, stream, requests, per_request, p) for p in range(processes)])
        wall = time.perf_counter() - start
    accepted = sum(r[0] for r in results)
    failed = sum(r[1] for r in results)
    lat = sorted(x for r in results for x in r[2])
    pct = lambda q: lat[min(len(lat) - 1, int(q * len(lat)))] * 1000
    print(json.dumps({"accepted": accepted, "failed": failed, "seconds": wall,
                      "records_per_sec": accepted / wall, "p50_ms": pct(0.5), "p99_ms": pct(0.99)}))


def lambda_noop(_):
    import boto3  # noqa: F401
    return 0


if __name__ == "__main__":
    main()
