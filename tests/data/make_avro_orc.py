"""Writes seattle-weather.csv as Avro and ORC lakes with the reference writers.

Run once by hand (the files are committed): `pip install fastavro==1.13.1 cramjam==2.14.0 backports.zstd==1.8.0
pyarrow==26.0.1`,
then `python tests/data/make_avro_orc.py`. Avro by fastavro, ORC by Apache ORC's C++
library (through pyarrow): files Tributary did not write. One hive folder per year, a
different codec per file, nested values (a record, an array), and schema evolution: the
2015 files add a `station` column.
"""

import csv
import datetime as dt
import os

import fastavro
import pyarrow as pa
import pyarrow.orc as orc

HERE = os.path.dirname(os.path.abspath(__file__))
rows = list(csv.DictReader(open(os.path.join(HERE, "seattle-weather.csv"))))
years = sorted({r["date"][:4] for r in rows})
codecs_avro = ["null", "deflate", "snappy", "zstandard"]
codecs_orc = ["uncompressed", "zlib", "snappy", "zstd"]


def record(r, evolved):
    day = dt.date.fromisoformat(r["date"].replace("/", "-"))
    out = {
        "date": day,
        "precipitation": float(r["precipitation"]),
        "temps": {"max": float(r["temp_max"]), "min": float(r["temp_min"])},
        "wind": float(r["wind"]),
        "weather": r["weather"] or None,
        "tags": [t for t in (r["weather"], "windy" if float(r["wind"]) > 5 else None) if t],
    }
    if evolved:
        out["station"] = "SEA"
    return out


def avro_schema(evolved):
    fields = [
        {"name": "date", "type": {"type": "int", "logicalType": "date"}},
        {"name": "precipitation", "type": "double"},
        {
            "name": "temps",
            "type": {
                "type": "record",
                "name": "Temps",
                "fields": [{"name": "max", "type": "double"}, {"name": "min", "type": "double"}],
            },
        },
        {"name": "wind", "type": "double"},
        {"name": "weather", "type": ["null", "string"], "default": None},
        {"name": "tags", "type": {"type": "array", "items": "string"}},
    ]
    if evolved:
        fields.append({"name": "station", "type": ["null", "string"], "default": None})
    return fastavro.parse_schema({"type": "record", "name": "Weather", "fields": fields})


for i, year in enumerate(years):
    evolved = year == years[-1]
    batch = [record(r, evolved) for r in rows if r["date"].startswith(year)]
    folder = os.path.join(HERE, "weather_avro", f"year={year}")
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, "part-0.avro"), "wb") as f:
        fastavro.writer(f, avro_schema(evolved), batch, codec=codecs_avro[i], sync_interval=8000)
    folder = os.path.join(HERE, "weather_orc", f"year={year}")
    os.makedirs(folder, exist_ok=True)
    table = pa.Table.from_pylist(batch)
    orc.write_table(table, os.path.join(folder, "part-0.orc"), compression=codecs_orc[i])
