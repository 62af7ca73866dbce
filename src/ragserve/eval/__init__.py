"""``ragserve eval``: how well retrieval finds the pages that answer a QA file's questions.

questions.py  QA files (JSONL) and their dev/test splits
modes.py      retrieval modes by name: a mode is ``async (query, top_k) -> passages``
metrics.py    recall@k, MRR, nDCG and the answer checks, as pure functions
runner.py     every question through every mode (and, optionally, the answer service)
report.py     the console table, the JSON document and the self-contained HTML page
"""
