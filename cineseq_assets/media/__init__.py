"""Media shared by the stages that read trailer files: video decoding and sampling (``video``), shot
detection on the sampled frames (``shots``). Plain Python: no Dagster, no stage imports.
"""
