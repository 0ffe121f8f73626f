"""Media shared by the stages that read trailer files: video decoding and sampling (``video``), shot
detection on the sampled frames (``shots``), and where a film's trailer is (``trailer_files``).
Plain Python: no Dagster, no stage imports.
"""
