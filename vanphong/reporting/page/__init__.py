"""``vanphong serve``: the reporting page for people who don't write SQL (issue 13). A process
of its own, apart from the worker, connected as ``vanphong_reporting`` (read-only sessions):
choose a unit and a period, see the twelve metrics beside a year earlier, charts (Apache
ECharts, vendored in ``static/``), the unit's history, the summary paragraph, and download
CSV or XLSX. The URL holds the selection, so links can be shared."""
