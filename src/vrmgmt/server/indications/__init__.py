"""The embedded server's indication service (DSP1054): durable subscriptions
(subscriptions.py), routing (service.py) and CIM-XML delivery (export.py)."""
