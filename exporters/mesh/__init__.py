"""The mesh: every node answers probes and probes every peer, for the pairwise latency matrix.

``peers`` reads the peers file, ``wire`` defines the probe datagram and the message-stream
framing, ``responder`` answers UDP probes, ``prober`` sends them on a jittered schedule in a
thread of its own, ``streams`` is the TCP endpoint for message and bulk load (a separate
process), ``service`` ties them together for the exporter and ``survey`` is the one-shot
measurement `swarmscope run mesh` starts on every node.
"""
