"""Usage discovery: Gateway HTTP logs matched to library applications and rolled up per day,
and the dashboards that read those rollups (never the raw logs).

``models`` the rollup tables, ``rollup`` the set-based job (plain module: a day in, rows out),
``services`` runs, dirty days and re-attribution, ``queries``/``runners``/``charts`` the
dashboards (a frozen query → a runner over rollups → a result → a plotly figure), ``cache``
results by a hash of their query."""
