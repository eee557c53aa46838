"""The two looks lmforge's pages have: the run report (and model card preview) and the corpus analysis.

Both style the same markup from :mod:`lmforge.render.html_page`: ``td.num`` / ``th.num`` for number columns,
``.cards`` / ``.card`` (``.l`` label, ``.v`` value) for key figures, ``p.sub`` and ``p.foot``, ``nav``.
"""

REPORT_CSS = """
body{font:15px/1.5 -apple-system,'Segoe UI',Roboto,Helvetica,Arial,sans-serif;color:#1d2329;margin:0;background:#f4f6f8}
main{max-width:1040px;margin:0 auto;padding:28px 36px 60px;background:#fff;box-shadow:0 0 12px #0001}
h1{font-size:26px;margin:0 0 6px;color:#123}
h2{font-size:19px;margin:30px 0 10px;padding-bottom:4px;border-bottom:2px solid #e2e8ee;color:#1f4f7a}
h3{font-size:16px;margin:18px 0 8px;color:#334}
p{margin:8px 0}
table{border-collapse:collapse;margin:8px 0 14px;font-size:13.5px;min-width:50%}
th,td{border:1px solid #dde3e9;padding:4px 10px;text-align:left;vertical-align:top}
th{background:#eef3f8;font-weight:600}
tr:nth-child(even) td{background:#fafbfc}
td.num{text-align:right;font-variant-numeric:tabular-nums}
caption{caption-side:top;text-align:left;color:#567;font-size:12.5px;padding-bottom:3px}
pre{background:#f6f8fa;border:1px solid #e1e4e8;border-radius:5px;padding:10px 12px;overflow-x:auto;font-size:12.5px;
white-space:pre-wrap;word-break:break-word}
img{max-width:100%;border:1px solid #e5e8eb;border-radius:4px;margin:6px 0}
"""

ANALYSIS_CSS = """
body{font:14px/1.5 -apple-system,BlinkMacSystemFont,"Segoe UI",Helvetica,Arial,sans-serif;color:#1f2328;
 background:#f6f8fa;margin:0}
main{max-width:1100px;margin:0 auto;padding:24px 32px 48px;background:#fff;box-shadow:0 0 0 1px #e5e7eb}
h1{font-size:26px;margin:8px 0 4px}h2{font-size:19px;margin:36px 0 10px;padding-bottom:6px;border-bottom:1px solid #e5e7eb}
.sub{color:#59636e;margin:0 0 12px}nav{margin:10px 0 4px;font-size:13px}nav a{margin-right:14px;color:#0969da;text-decoration:none}
.cards{display:grid;grid-template-columns:repeat(auto-fill,minmax(170px,1fr));gap:10px;margin:12px 0}
.card{border:1px solid #e5e7eb;border-radius:8px;padding:10px 12px;background:#fbfcfd}
.card .v{font-size:17px;font-weight:600;overflow-wrap:anywhere}
.card .l{color:#59636e;font-size:12px;text-transform:uppercase;letter-spacing:.03em}
table{border-collapse:collapse;margin:8px 0 18px;font-size:13px;width:100%}
caption{text-align:left;color:#59636e;font-style:italic;padding:4px 0}
th{background:#f3f4f6;text-align:left;font-weight:600;padding:6px 10px;border-bottom:1px solid #d0d7de;white-space:nowrap}
td{padding:5px 10px;border-bottom:1px solid #eef0f2;text-align:left;vertical-align:top}
th.num,td.num{text-align:right}td:not(.num){max-width:520px}
tr:hover td{background:#f8fafc}code{font:12px ui-monospace,SFMono-Regular,Menlo,monospace;background:#f3f4f6;
 padding:1px 4px;border-radius:4px}img{max-width:100%;margin:6px 0 10px}.foot{color:#59636e;font-size:12px;margin-top:32px}
"""
