/**
 * The Classy playground page. It is TypeScript returning a string (rather than
 * files copied into dist) so the page ships inside the compiled package with no
 * build step; everything is inline and uses system fonts, so it works offline.
 * The script avoids backticks and "${" so it can sit inside this template literal.
 */
const CSS = `
:root { --bg:#f4f6fa; --card:#fff; --ink:#1c2330; --muted:#667085; --line:#e3e8ef; --accent:#3b5bdb; --accent-soft:#e7ecff; --bad:#c92a2a;
  font-family: system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; color: var(--ink); background: var(--bg); }
* { box-sizing: border-box; }
body { margin: 0; }
header { background: linear-gradient(120deg, #22305c, #3b5bdb); color: #fff; padding: 22px 28px; }
header h1 { margin: 0; font-size: 1.5rem; letter-spacing: .01em; }
header p { margin: 4px 0 0; opacity: .85; font-size: .95rem; }
main { max-width: 1120px; margin: 24px auto; padding: 0 20px; display: grid; gap: 20px; grid-template-columns: minmax(0, 5fr) minmax(0, 6fr); }
@media (max-width: 820px) { main { grid-template-columns: 1fr; } }
.card { background: var(--card); border: 1px solid var(--line); border-radius: 14px; padding: 20px; box-shadow: 0 1px 2px rgba(16,24,40,.04); }
.card h2 { margin: 0 0 14px; font-size: 1rem; text-transform: uppercase; letter-spacing: .06em; color: var(--muted); }
#drop { display: flex; flex-direction: column; align-items: center; justify-content: center; gap: 8px; min-height: 230px; border: 2px dashed #b8c3d9;
  border-radius: 12px; background: #fafbfe; text-align: center; padding: 16px; cursor: pointer; transition: border-color .15s, background .15s; overflow: hidden; }
#drop.over { border-color: var(--accent); background: var(--accent-soft); }
#drop img { max-width: 100%; max-height: 260px; border-radius: 8px; display: none; }
#drop.has-image img { display: block; }
#drop.has-image .hint { display: none; }
.hint strong { color: var(--accent); }
.hint small { display: block; color: var(--muted); margin-top: 4px; }
#file { position: absolute; width: 1px; height: 1px; opacity: 0; }
form.url { display: flex; gap: 8px; margin-top: 14px; }
form.url input { flex: 1; min-width: 0; padding: 10px 12px; border: 1px solid var(--line); border-radius: 10px; font: inherit; }
button { padding: 10px 16px; border: 0; border-radius: 10px; background: var(--accent); color: #fff; font: inherit; font-weight: 600; cursor: pointer; }
button:disabled { opacity: .6; cursor: progress; }
#status { min-height: 1.4em; margin: 12px 0 0; color: var(--muted); font-size: .92rem; }
#status.error { color: var(--bad); }
ol#results { list-style: none; margin: 0; padding: 0; }
ol#results li { margin: 0 0 12px; }
.row { display: flex; justify-content: space-between; gap: 12px; font-size: .95rem; margin-bottom: 5px; }
.row .label { font-weight: 600; overflow: hidden; text-overflow: ellipsis; white-space: nowrap; }
.row .p { font-variant-numeric: tabular-nums; color: var(--muted); }
.bar { height: 10px; border-radius: 6px; background: #edf0f6; overflow: hidden; }
.bar span { display: block; height: 100%; border-radius: 6px; background: #9fb0e8; transition: width .4s ease; }
li:first-child .bar span { background: var(--accent); }
li:first-child .label { color: var(--accent); }
.empty { color: var(--muted); font-size: .95rem; }
.stats { display: grid; grid-template-columns: repeat(4, minmax(0, 1fr)); gap: 10px; margin-top: 18px; }
@media (max-width: 480px) { .stats { grid-template-columns: repeat(2, minmax(0, 1fr)); } }
.stat { background: #f7f8fc; border: 1px solid var(--line); border-radius: 10px; padding: 10px; }
.stat b { display: block; font-size: 1.15rem; font-variant-numeric: tabular-nums; }
.stat span { font-size: .78rem; text-transform: uppercase; letter-spacing: .05em; color: var(--muted); }
.meta { grid-column: 1 / -1; }
dl { display: grid; grid-template-columns: max-content 1fr; gap: 6px 18px; margin: 0; font-size: .93rem; }
dt { color: var(--muted); }
dd { margin: 0; font-family: ui-monospace, "SFMono-Regular", Menlo, Consolas, monospace; font-size: .86rem; overflow-wrap: anywhere; }
`;

const SCRIPT = `
(function () {
  var $ = function (id) { return document.getElementById(id); };
  var drop = $('drop'), file = $('file'), preview = $('preview'), status = $('status');
  function setStatus(text, isError) { status.textContent = text; status.className = isError ? 'error' : ''; }
  function ms(v) { return v === undefined ? '—' : (v < 10 ? v.toFixed(1) : Math.round(v)) + ' ms'; }
  function el(tag, cls, text) { var e = document.createElement(tag); if (cls) e.className = cls; if (text !== undefined) e.textContent = text; return e; }

  function render(answer) {
    var list = $('results');
    list.innerHTML = '';
    answer.predictions.forEach(function (p) {
      var li = el('li'), row = el('div', 'row'), bar = el('div', 'bar'), fill = el('span');
      row.appendChild(el('span', 'label', p.label));
      row.appendChild(el('span', 'p', (p.probability * 100).toFixed(1) + '%'));
      li.title = 'class ' + p.index;
      bar.appendChild(fill);
      li.appendChild(row); li.appendChild(bar); list.appendChild(li);
      requestAnimationFrame(function () { fill.style.width = Math.max(0.5, p.probability * 100) + '%'; });
    });
    var t = answer.timings;
    $('t-download').textContent = ms(t.download);
    $('t-preprocess').textContent = ms(t.preprocess);
    $('t-model').textContent = ms(t.model);
    $('t-total').textContent = ms(t.total);
  }

  function classify(form, label) {
    var buttons = document.querySelectorAll('button');
    buttons.forEach(function (b) { b.disabled = true; });
    setStatus('Classifying ' + label + '…');
    var t0 = performance.now();
    fetch('api/classify', { method: 'POST', body: form })
      .then(function (r) { return r.json().then(function (j) { return { ok: r.ok, body: j }; }); })
      .then(function (r) {
        if (!r.ok) throw new Error(r.body.error ? r.body.error.code + ': ' + r.body.error.message : 'request failed');
        render(r.body);
        setStatus(label + ' · answered in ' + Math.round(performance.now() - t0) + ' ms');
      })
      .catch(function (e) { setStatus(e.message, true); })
      .finally(function () { buttons.forEach(function (b) { b.disabled = false; }); });
  }

  function useFile(f) {
    if (!f) return;
    preview.src = URL.createObjectURL(f);
    drop.classList.add('has-image');
    var form = new FormData();
    form.append('data', f, f.name);
    classify(form, f.name);
  }

  drop.addEventListener('click', function () { file.click(); });
  drop.addEventListener('keydown', function (e) { if (e.key === 'Enter' || e.key === ' ') { e.preventDefault(); file.click(); } });
  file.addEventListener('change', function () { useFile(file.files[0]); });
  ['dragenter', 'dragover'].forEach(function (n) { drop.addEventListener(n, function (e) { e.preventDefault(); drop.classList.add('over'); }); });
  ['dragleave', 'drop'].forEach(function (n) { drop.addEventListener(n, function (e) { e.preventDefault(); drop.classList.remove('over'); }); });
  drop.addEventListener('drop', function (e) { useFile(e.dataTransfer.files[0]); });
  $('url-form').addEventListener('submit', function (e) {
    e.preventDefault();
    var url = $('url').value.trim();
    if (!url) return;
    preview.src = url;
    drop.classList.add('has-image');
    var form = new FormData();
    form.append('url', url);
    classify(form, url);
  });

  fetch('api/info').then(function (r) { return r.json(); }).then(function (info) {
    var dl = $('meta'), m = info.model || {};
    function add(k, v) { dl.appendChild(el('dt', '', k)); dl.appendChild(el('dd', '', v)); }
    function specs(list) { return (list || []).map(function (s) { return s.name + ' ' + s.type + ' [' + s.shape.join(', ') + ']'; }).join(', '); }
    add('model', m.name + (m.version ? ' v' + m.version : ''));
    if (m.description) add('description', m.description);
    add('server', m.server || '');
    add('inputs', specs(m.inputs));
    add('outputs', specs(m.outputs));
    add('preset', info.preset);
    add('classes', String(info.classes));
    add('downloader', info.stages.downloader);
    add('preprocessor', info.stages.preprocessor);
    add('model server', info.stages.model);
  }).catch(function (e) { setStatus('metadata unavailable: ' + e.message, true); });
})();
`;

export const PLAYGROUND_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Classy playground · modelpipe</title>
<style>${CSS}</style>
</head>
<body>
<header>
  <h1>Classy playground</h1>
  <p>Image classification through modelpipe: downloader → preprocessor → model server.</p>
</header>
<main>
  <section class="card">
    <h2>Image</h2>
    <div id="drop" role="button" tabindex="0" aria-label="Choose or drop an image">
      <img id="preview" alt="the image being classified">
      <div class="hint"><strong>Choose an image</strong> or drop it here<small>JPEG, PNG, WebP or GIF</small></div>
    </div>
    <input id="file" type="file" accept="image/*">
    <form class="url" id="url-form">
      <input id="url" type="url" placeholder="…or paste an image URL" aria-label="image URL">
      <button type="submit">Classify</button>
    </form>
    <p id="status" role="status"></p>
  </section>
  <section class="card">
    <h2>Top 5 classes</h2>
    <ol id="results"><li class="empty">Results appear here.</li></ol>
    <div class="stats">
      <div class="stat"><b id="t-download">—</b><span>download</span></div>
      <div class="stat"><b id="t-preprocess">—</b><span>preprocess</span></div>
      <div class="stat"><b id="t-model">—</b><span>model</span></div>
      <div class="stat"><b id="t-total">—</b><span>total</span></div>
    </div>
  </section>
  <section class="card meta">
    <h2>Model</h2>
    <dl id="meta"></dl>
  </section>
</main>
<script>${SCRIPT}</script>
</body>
</html>
`;
