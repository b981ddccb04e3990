"""Dashboard panels beyond the scalars, one module per panel: training views, embedding map, retrieval grid.

Every panel is written under ``<default_root_dir>/dashboard/`` first and then
logged to every :class:`~lightning.pytorch.loggers.WandbLogger` under a
``dash/`` key, so nothing depends on W&B (see docs/dashboards.md):

========================  ==================================================  ==========================
panel                     file                                                W&B key
========================  ==================================================  ==========================
training views            ``dashboard/views.png``                             ``dash/views``
embedding map             ``dashboard/embedding_map/<epoch>.png`` + ``.csv``  ``dash/embedding_map``,
                                                                              ``dash/embedding_points``
                                                                              (table), ``dash/embedding_scatter``
retrieval grid            ``dashboard/retrieval/<epoch>.png`` + ``.csv``      ``dash/retrieval``
========================  ==================================================  ==========================

All of them run on rank 0 only, never during the sanity check, and use only
the step outputs of the evaluation contract (``features``, ``labels``) and the
DataModule's ``mean`` / ``std``.
"""

from sslkit.callbacks.dashboard.embedding_map import EmbeddingMap, plot_embedding, reduce_2d, umap_available
from sslkit.callbacks.dashboard.panel import DASHBOARD_DIR, EveryNValidations
from sslkit.callbacks.dashboard.retrieval import RetrievalGrid
from sslkit.callbacks.dashboard.views import ViewsGrid

__all__ = ["DASHBOARD_DIR", "EmbeddingMap", "EveryNValidations", "RetrievalGrid", "ViewsGrid", "plot_embedding", "reduce_2d",
           "umap_available"]
