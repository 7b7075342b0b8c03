/**
 * The console's only static asset, its stylesheet, kept in the source so it is served from the
 * same module in src/ and in a compiled dist/ (no file lookups at run time). Served by Deputy at
 * /console/assets/console.css; the Content-Security-Policy allows nothing from elsewhere.
 */
import { createHash } from 'node:crypto';

export const CONSOLE_CSS = `
:root { --fg:#1d232b; --muted:#5a6472; --line:#d4d9e0; --bg:#f6f7f9; --card:#fff; --accent:#1f5fbf; --bad:#a11d1d; --ok:#17663a; --warn:#8a5a00; }
* { box-sizing: border-box; }
body { margin:0; font:15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color:var(--fg); background:var(--bg); }
a { color:var(--accent); }
a:focus-visible, button:focus-visible, input:focus-visible, select:focus-visible, textarea:focus-visible, summary:focus-visible { outline:3px solid #f0a400; outline-offset:2px; }
.skip { position:absolute; left:-9999px; } .skip:focus { left:8px; top:8px; background:#fff; padding:4px 8px; z-index:2; }
header.top { background:#16202e; color:#fff; padding:0 16px; display:flex; flex-wrap:wrap; align-items:center; gap:4px 18px; }
header.top .brand { font-weight:700; padding:10px 0; color:#fff; text-decoration:none; }
header.top nav { display:flex; flex-wrap:wrap; gap:2px 14px; flex:1; }
header.top nav a { color:#d7e3f4; text-decoration:none; padding:10px 0; }
header.top nav a[aria-current=page] { color:#fff; border-bottom:3px solid #6aa5ff; }
header.top form { margin:0; } header.top .who { color:#d7e3f4; font-size:13px; }
header.top button { background:transparent; color:#fff; border:1px solid #6c7b90; }
main { max-width:1200px; margin:0 auto; padding:16px; }
h1 { font-size:22px; margin:8px 0 14px; } h2 { font-size:17px; margin:22px 0 8px; }
.card { background:var(--card); border:1px solid var(--line); border-radius:6px; padding:12px 16px; margin:0 0 14px; }
.tiles { display:grid; grid-template-columns:repeat(auto-fill,minmax(210px,1fr)); gap:12px; }
.tile { display:block; color:var(--fg); text-decoration:none; background:var(--card); border:1px solid var(--line); border-radius:6px; padding:10px 14px; }
.tile .n { font-size:26px; font-weight:700; color:var(--accent); } .tile:hover .l { text-decoration:underline; } .tile .l { color:var(--muted); font-size:13px; }
.table-wrap { overflow-x:auto; background:var(--card); border:1px solid var(--line); border-radius:6px; }
table { border-collapse:collapse; width:100%; }
th, td { text-align:left; padding:7px 10px; border-bottom:1px solid var(--line); vertical-align:top; }
th { font-size:13px; color:var(--muted); font-weight:600; white-space:nowrap; }
td code, .mono { font-family:ui-monospace, "SFMono-Regular", Menlo, monospace; font-size:13px; word-break:break-all; }
td code.id { word-break:normal; white-space:nowrap; }
form.filters { display:flex; flex-wrap:wrap; gap:8px 12px; align-items:flex-end; margin:0 0 12px; }
label { display:flex; flex-direction:column; gap:3px; font-size:13px; color:var(--muted); }
input, select, textarea { font:inherit; color:var(--fg); padding:6px 8px; border:1px solid #9aa4b2; border-radius:4px; background:#fff; }
textarea { width:100%; min-height:120px; }
button, .button { font:inherit; padding:6px 14px; border-radius:4px; border:1px solid var(--accent); background:var(--accent); color:#fff; cursor:pointer; text-decoration:none; display:inline-block; }
button.secondary, .button.secondary { background:#fff; color:var(--accent); }
button.danger, .button.danger { background:var(--bad); border-color:var(--bad); color:#fff; }
input[type=date] { max-width:14em; }
.badge { display:inline-block; padding:1px 8px; border-radius:10px; font-size:12px; font-weight:600; border:1px solid; }
.badge.ok { color:var(--ok); border-color:var(--ok); } .badge.bad { color:var(--bad); border-color:var(--bad); } .badge.muted { color:var(--muted); border-color:var(--muted); }
.alert { padding:10px 14px; border-radius:6px; margin:0 0 14px; border:1px solid; background:#fff; }
.alert.bad { border-color:var(--bad); color:var(--bad); } .alert.ok { border-color:var(--ok); color:var(--ok); } .alert.warn { border-color:var(--warn); color:var(--warn); }
.field-error { color:var(--bad); font-size:13px; }
dl.facts { display:grid; grid-template-columns:max-content 1fr; gap:4px 16px; margin:0; }
dl.facts dt { color:var(--muted); } dl.facts dd { margin:0; word-break:break-word; }
.chain { display:flex; flex-wrap:wrap; align-items:stretch; gap:6px; list-style:none; padding:0; margin:0; }
.chain li { display:flex; align-items:center; gap:6px; }
.chain .node { border:2px solid var(--accent); border-radius:6px; padding:8px 12px; background:#fff; min-width:150px; }
.chain .node.bad { border-color:var(--bad); }
.chain .node .k { font-size:12px; color:var(--muted); }
.chain .arrow { font-size:22px; color:var(--muted); }
.pager { display:flex; gap:10px; margin:10px 0; }
details { border-bottom:1px solid var(--line); padding:6px 0; } summary { cursor:pointer; }
.signin { max-width:420px; margin:60px auto; }
.signin form { display:flex; flex-direction:column; gap:12px; }
.actions { display:flex; gap:10px; flex-wrap:wrap; align-items:center; }
.muted { color:var(--muted); }
form.decision { max-width:560px; display:flex; flex-direction:column; gap:12px; margin:16px 0 0; } form.decision input[type=number] { max-width:12em; }
fieldset.scopes { border:1px solid var(--line); border-radius:6px; padding:8px 14px; margin:0; display:flex; flex-direction:column; gap:6px; }
label.check { flex-direction:row; align-items:center; gap:8px; color:var(--fg); font-size:15px; } label.check.muted { color:var(--muted); }
@media (max-width:640px) { main { padding:10px; } header.top nav { order:3; flex-basis:100%; } header.top .who { display:none; } th, td { padding:6px; } .hide-narrow { display:none; } dl.facts { grid-template-columns:1fr; } }
`;

/** A strong validator for the stylesheet, so browsers revalidate cheaply. */
export const CONSOLE_CSS_ETAG = `"${createHash('sha256').update(CONSOLE_CSS).digest('base64url').slice(0, 16)}"`;
