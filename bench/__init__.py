"""A reproducible throughput benchmark of the serving stack (``python -m bench``).

Starts the real service under gunicorn on loopback, drives every API (REST v1 JSON, the
``:classify`` task endpoint, Open Inference Protocol V2 JSON and binary, TF Serving gRPC)
with ``wrk`` or a small gRPC driver at several concurrencies, and measures in the same run
the two ceilings that say how close the service gets to the machine: the SavedModel called
in-process and a bare Flask echo endpoint on the same gunicorn topology.
"""
