"""Style and content retrieval: embed image collections into a faiss index, then search it.

  from stylejax import retrieval
  retrieval.embed("paintings/", "indexes/paintings")            # resumable; config: stylejax/configs/retrieval.py
  results = retrieval.search("indexes/paintings", ["query.jpg"], by="style-not-content", k=10)
  retrieval.contact_sheet(results, "sheet.png")
  retrieval.verify("indexes/paintings").problems                # damage, named by file
  retrieval.repair("indexes/paintings")                         # rebuilt from the intact files

Modules: `embeddings` (pure feature -> vector functions), `embedder` (network, compiled sharded step),
`sources` (folders, list files, tfds), `store` (shards + manifest), `integrity` (checksums and the
checks of every file), `index` (faiss), `search` (ranking modes, JSON, contact sheet), `pipeline` (the
embed run), `repair` (index verify / repair).
"""

from stylejax.retrieval.index import rebuild
from stylejax.retrieval.pipeline import EmbedResult, embed
from stylejax.retrieval.repair import RepairResult, Report, repair, verify
# `search` below is the function; the module is `stylejax.retrieval.search` in sys.modules.
from stylejax.retrieval.search import (CONTENT_THRESHOLD, MODES, Hit, QueryResult, Searcher, check_request,
                                       contact_sheet, search, to_json)
from stylejax.retrieval.store import Store

__all__ = ["CONTENT_THRESHOLD", "MODES", "EmbedResult", "Hit", "QueryResult", "RepairResult", "Report", "Searcher",
           "Store", "check_request", "contact_sheet", "embed", "rebuild", "repair", "search", "to_json", "verify"]
