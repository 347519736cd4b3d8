"""The HTML report of a `tf-gradcam explain` run: `OUT/index.html`, one self-contained page.

A card per image (the original next to its overlays, class names, probabilities), sortable
and filterable by class and probability with a little inline JavaScript, the failed and
skipped files with their errors, and the run's settings. No CDN, no network: images are
linked by relative path, and thumbnails are written to `OUT/thumbnails/` once per image (an
existing one is reused, so a call per batch is cheap). The page is written atomically: a
stopped run leaves the previous complete page.

It reads what the run wrote (`run.json`, `summary.jsonl` or `summary.csv`) robustly: a
missing field shows as "-", a torn last line is ignored.
"""

import hashlib
import html
import json
import os
import pathlib
import urllib.parse

#: The page, and the folder of its thumbnails, inside the run folder.
PAGE, THUMBNAILS = "index.html", "thumbnails"
#: Long side of a thumbnail, in pixels (shown at half that on the page, sharp on HiDPI).
THUMBNAIL_SIZE = 320


def write_report(out_dir, *, title=None):
    """Write (or refresh) `OUT/index.html`, the browsable page of a run.

    Args:
        out_dir: The run's output folder (`tf-gradcam explain --out`), holding `run.json` and
            `summary.jsonl` (or `summary.csv`).
        title: The page's title. Defaults to `None` ("tf-gradcam report: <folder name>").

    Returns:
        The `pathlib.Path` of the page.

    Raises:
        ValueError: `out_dir` is not a folder.

    Example:
    >>> import pathlib
    >>> out = pathlib.Path("run"); out.mkdir()
    >>> tfg.write_report(out).name
    'index.html'
    """
    from tf_gradcam import files

    out = pathlib.Path(out_dir)
    if not out.is_dir():
        raise ValueError(f"`out_dir` is the output folder of a run; {str(out)!r} is not a "
                         f"folder. Received: out_dir={str(out_dir)!r}")
    run = _read_run(out)
    cwd = str(run.get("cwd") or os.getcwd())
    images, problems = _group(_read_rows(out))
    where = os.path.abspath(out)
    cards = [_card(where, cwd, image, rows, run) for image, rows in images.items()]
    page = _page(title or f"tf-gradcam report: {out.resolve().name}", run, images, cards,
                 problems, _class_options(images))
    target = out / PAGE
    with files.open_atomic(target, "w") as handle:
        handle.write(page)
    return target


def _read_run(out):
    try:
        run = json.loads((out / "run.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return run if isinstance(run, dict) else {}


def _read_rows(out):
    """Rows as dicts from `summary.jsonl`, else `summary.csv`; torn last lines dropped."""
    from tf_gradcam import runs

    jsonl, csv_path = out / runs.SUMMARY_JSONL, out / runs.SUMMARY_CSV
    if jsonl.is_file():
        return [row for _, row in runs.read_jsonl(jsonl) if isinstance(row, dict)]
    if csv_path.is_file():
        from tf_gradcam import records

        try:
            return [records.from_csv(cells) for cells in runs.read_csv(csv_path)]
        except (runs.UsageError, ValueError):
            return []
    return []


def _group(rows):
    """`({image: explained rows by rank}, [failed or skipped rows])`, in run order."""
    images, problems = {}, []
    for row in rows:
        image = str(row.get("image") or "-")
        if row.get("error"):
            problems.append(row)
        else:
            images.setdefault(image, []).append(row)
    for rows_ in images.values():
        rows_.sort(key=lambda r: _number(r.get("rank"), 0))
    return images, problems


def _number(value, default=None):
    try:
        number = float(value)
    except (TypeError, ValueError):
        return default
    return number if number == number else default  # NaN -> default


def _text(value):
    """A field as display text: "-" where missing or empty."""
    return "-" if value is None or value == "" else str(value)


def _short(name):
    return str(name).split(",")[0].strip()


def _class_label(row):
    c = row.get("class_index")
    name = row.get("class_name")
    if name and c is not None:
        return f"{_short(name)} ({c})"
    return _short(name) if name else ("-" if c is None else f"class {c}")


def _percent(p):
    p = _number(p)
    return "-" if p is None else f"{100.0 * p:.1f}%"


def _resolve(cwd, value):
    """A path of the summary (relative to the run's working folder) as an absolute `str`."""
    return os.path.normpath(os.path.join(cwd, str(value))) if value else None


def _href(out, path):
    """`path` (absolute) as a URL relative to the page (quoted: file names are user data)."""
    try:
        relative = os.path.relpath(path, out)
    except ValueError:  # another drive (Windows): an absolute file URL
        return pathlib.Path(path).as_uri()
    return urllib.parse.quote(relative.replace(os.sep, "/"))


#: Thumbnails known to exist (absolute paths): a refresh per batch skips their checks.
_MADE = set()


def _thumbnail(out, source, run):
    """The file name of `source`'s thumbnail in `OUT/thumbnails/` (made once), or `None`
    where it cannot be read. Its name hashes the source's path, size and time, so a changed
    file gets a new one."""
    from tf_gradcam import files, geometry

    try:
        stat = os.stat(source)
    except OSError:
        return None
    key = f"{source}|{stat.st_size}|{stat.st_mtime_ns}|{THUMBNAIL_SIZE}"
    digest = hashlib.sha1(key.encode("utf-8", "surrogateescape")).hexdigest()[:12]
    stem = os.path.splitext(os.path.basename(source))[0]
    stem = "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in stem)[:40]
    name = f"{stem}_{digest}.jpg"
    target = os.path.join(out, THUMBNAILS, name)
    if target in _MADE or os.path.isfile(target):
        _MADE.add(target)
        return name
    import cv2

    try:
        photo = files.decode_photo(files.read_bytes(source),
                                   max_pixels=run.get("max_pixels", files.DEFAULT_MAX_PIXELS),
                                   max_size=THUMBNAIL_SIZE)
        small = geometry.cap_size(photo.image, THUMBNAIL_SIZE)
        ok, data = cv2.imencode(".jpg", cv2.cvtColor(small, cv2.COLOR_RGB2BGR),
                                [cv2.IMWRITE_JPEG_QUALITY, 85])
        if not ok:
            return None
        os.makedirs(os.path.dirname(target), exist_ok=True)
        files.write_atomic(target, data.tobytes())
    except (OSError, ValueError, cv2.error):
        return None
    _MADE.add(target)
    return name


def _figure(out, source, thumbnail, caption, title=None, size=None):
    tip = f" title='{_attr(title)}'" if title else ""
    if thumbnail is None:
        picture = "<div class='missing'>no preview</div>"
    else:
        src = f"{THUMBNAILS}/{urllib.parse.quote(thumbnail)}"
        picture = f"<img src='{src}' loading='lazy' alt='{_attr(caption)}'>"
    if source is not None:
        picture = f"<a href='{_href(out, source)}'>{picture}</a>"
    extra = f"<span class='dim'>{html.escape(size)}</span>" if size else ""
    return (f"<figure{tip}>{picture}<figcaption>{html.escape(caption)}{extra}"
            f"</figcaption></figure>")


def _attr(text):
    return html.escape(str(text), quote=True)


def _card(out, cwd, image, rows, run):
    """One image's card: the original, then each explained class's overlay."""
    original = _resolve(cwd, image)
    first = rows[0]
    width, height = first.get("original_width"), first.get("original_height")
    size = f" {width}x{height}" if width is not None and height is not None else ""
    figures = [_figure(out, original, _thumbnail(out, original, run) if original else None,
                       "original", size=size)]
    for row in rows:
        overlay = _resolve(cwd, row.get("overlay"))
        caption = (f"{_text(row.get('rank'))}. {_class_label(row)} "
                   f"{_percent(row.get('probability'))}")
        figures.append(_figure(out, overlay, _thumbnail(out, overlay, run) if overlay else None,
                               caption, title=row.get("class_name") or None))
    probs = " ".join(f"{r.get('class_index')}:{_number(r.get('probability'), '')}"
                     for r in rows if r.get("class_index") is not None)
    note = first.get("note")
    return (
        f"<article class='card' data-name='{_attr(image.casefold())}' "
        f"data-class='{_attr(_class_label(first).casefold())}' "
        f"data-prob='{_number(first.get('probability'), '')}' data-probs='{_attr(probs)}'>"
        f"<h3 title='{_attr(image)}'>{html.escape(image)}</h3>"
        f"<div class='pictures'>{''.join(figures)}</div>"
        f"<p class='meta'>{html.escape(_text(first.get('method')))} on "
        f"{html.escape(_text(first.get('layer')))}"
        + (f"; {html.escape(note)}" if note else "") + "</p></article>")


def _class_options(images):
    """`<option>`s of every explained class, most frequent first."""
    counts, labels = {}, {}
    for rows in images.values():
        for row in rows:
            c = row.get("class_index")
            if c is None:
                continue
            counts[c] = counts.get(c, 0) + 1
            labels[c] = _class_label(row)
    order = sorted(counts, key=lambda c: (-counts[c], labels[c]))
    return "".join(f"<option value='{_attr(c)}'>{html.escape(labels[c])} ({counts[c]})"
                   f"</option>" for c in order)


def _settings_table(run):
    if not run:
        return "<p class='dim'>no run.json: the run's settings are unknown.</p>"
    cells = []
    for key, value in run.items():
        shown = None if value is None else value if isinstance(value, str) else json.dumps(value)
        cells.append(f"<tr><th>{html.escape(str(key))}</th><td>{html.escape(_text(shown))}"
                     f"</td></tr>")
    return f"<table class='settings'>{''.join(cells)}</table>"


def _problems_table(problems):
    if not problems:
        return "<p class='dim'>none: every file was explained.</p>"
    rows = []
    for row in problems:
        error = str(row.get("error"))
        status = "skipped" if error.startswith("skipped:") else "failed"
        rows.append(f"<tr class='{status}'><td>{status}</td>"
                    f"<td>{html.escape(_text(row.get('image')))}"
                    f"</td><td>{html.escape(error)}</td>"
                    f"<td>{html.escape(_text(row.get('note')))}</td></tr>")
    return ("<table id='problems'><thead><tr><th>status</th><th>file</th><th>error</th>"
            f"<th>note</th></tr></thead><tbody>{''.join(rows)}</tbody></table>")


_STYLE = """
body{font:14px/1.4 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0;color:#222;
background:#f4f4f6}
header.top{background:#1e2230;color:#fff;padding:14px 20px}
header.top h1{font-size:20px;margin:0 0 4px}
header.top .dim{color:#b8bdd0}
header.top a{color:#fff;text-decoration:none}
.controls{position:sticky;top:0;z-index:2;background:#fff;border-bottom:1px solid #ddd;
padding:10px 20px;display:flex;flex-wrap:wrap;gap:14px;align-items:center}
.controls label{display:flex;gap:6px;align-items:center}
.controls input[type=number]{width:4.5em}
main{padding:16px 20px}
#cards{display:flex;flex-wrap:wrap;gap:14px;align-items:flex-start}
.card{background:#fff;border-radius:8px;box-shadow:0 1px 3px rgba(0,0,0,.15);padding:10px 12px}
.card[hidden]{display:none}
.card h3{font-size:13px;margin:0 0 6px;max-width:600px;overflow:hidden;text-overflow:ellipsis;
white-space:nowrap}
.pictures{display:flex;gap:8px;flex-wrap:wrap}
figure{margin:0;text-align:center;font-size:12px}
figure img,.missing{display:block;width:190px;height:150px;object-fit:contain;
background:#eee;border-radius:4px}
.missing{line-height:150px;color:#888}
figcaption{margin-top:3px;width:190px;overflow:hidden;text-overflow:ellipsis;white-space:nowrap}
.dim{color:#777;margin-left:4px}
.meta{margin:6px 0 0;font-size:12px;color:#666}
table{border-collapse:collapse;background:#fff}
th,td{border:1px solid #ddd;padding:3px 8px;text-align:left;vertical-align:top;font-size:13px}
tr.failed td:first-child{color:#b00020;font-weight:600}
tr.skipped td:first-child{color:#8a6d00}
section{margin-top:26px}
section h2{font-size:16px}
"""

_SCRIPT = """
(function () {
  var grid = document.getElementById('cards');
  var cards = Array.prototype.slice.call(grid.querySelectorAll('.card'));
  var sort = document.getElementById('sort'), cls = document.getElementById('class');
  var low = document.getElementById('min'), high = document.getElementById('max');
  var search = document.getElementById('search'), count = document.getElementById('count');
  cards.forEach(function (card, i) {
    card.order = i;
    card.probs = {};
    card.getAttribute('data-probs').split(' ').forEach(function (pair) {
      var at = pair.lastIndexOf(':');
      if (at > 0) { card.probs[pair.slice(0, at)] = parseFloat(pair.slice(at + 1)); }
    });
    card.prob = parseFloat(card.getAttribute('data-prob'));
  });
  function byProbability(a, b) {
    var pa = isNaN(a.prob) ? -1 : a.prob, pb = isNaN(b.prob) ? -1 : b.prob;
    return pb - pa;
  }
  var orders = {
    order: function (a, b) { return a.order - b.order; },
    name: function (a, b) {
      return a.getAttribute('data-name') < b.getAttribute('data-name') ? -1 :
        a.getAttribute('data-name') > b.getAttribute('data-name') ? 1 : a.order - b.order;
    },
    'class': function (a, b) {
      var ca = a.getAttribute('data-class'), cb = b.getAttribute('data-class');
      return ca < cb ? -1 : ca > cb ? 1 : byProbability(a, b) || a.order - b.order;
    },
    probability: function (a, b) { return byProbability(a, b) || a.order - b.order; },
    'probability-low': function (a, b) { return byProbability(b, a) || a.order - b.order; }
  };
  function apply() {
    var lo = parseFloat(low.value), hi = parseFloat(high.value), text = search.value.toLowerCase();
    lo = isNaN(lo) ? 0 : lo / 100; hi = isNaN(hi) ? 1 : hi / 100;
    var filtered = lo > 0 || hi < 1, shown = 0, chosen = cls.value;
    cards.slice().sort(orders[sort.value] || orders.order).forEach(function (card) {
      var p = chosen ? card.probs[chosen] : card.prob;
      var ok = (!chosen || chosen in card.probs) &&
        (!filtered || (!isNaN(p) && p >= lo - 1e-9 && p <= hi + 1e-9)) &&
        (!text || card.getAttribute('data-name').indexOf(text) >= 0);
      card.hidden = !ok;
      if (ok) { shown += 1; }
      grid.appendChild(card);
    });
    count.textContent = 'showing ' + shown + ' of ' + cards.length + ' image' +
      (cards.length === 1 ? '' : 's');
    var state = [];
    if (sort.value !== 'order') { state.push('sort=' + encodeURIComponent(sort.value)); }
    if (chosen) { state.push('class=' + encodeURIComponent(chosen)); }
    if (low.value && lo > 0) { state.push('min=' + encodeURIComponent(low.value)); }
    if (high.value && hi < 1) { state.push('max=' + encodeURIComponent(high.value)); }
    if (text) { state.push('q=' + encodeURIComponent(text)); }
    try { history.replaceState(null, '', '#' + state.join('&')); } catch (e) { /* file: */ }
  }
  location.hash.replace(/^#/, '').split('&').forEach(function (part) {
    var kv = part.split('='), value = decodeURIComponent(kv[1] || '');
    var field = {sort: sort, 'class': cls, min: low, max: high, q: search}[kv[0]];
    if (field) { field.value = value; }
  });
  [sort, cls, low, high, search].forEach(function (field) {
    field.addEventListener('input', apply);
    field.addEventListener('change', apply);
  });
  apply();
})();
"""


def _page(title, run, images, cards, problems, class_options):
    failed = sum(not str(r.get("error")).startswith("skipped:") for r in problems)
    skipped = len(problems) - failed
    facts = (f"{len(cards)} image{'s' if len(cards) != 1 else ''} explained, {failed} failed, "
             f"{skipped} skipped")
    first = next((rows[0] for rows in images.values()), {})
    facts_of_run = {"method": run.get("method") or first.get("method"),
                    "layer": run.get("layer") or first.get("layer"), "fit": run.get("fit"),
                    "started": run.get("started")}
    where = " | ".join(html.escape(f"{k}: {v}") for k, v in facts_of_run.items() if v)
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{html.escape(title)}</title>
<style>{_STYLE}</style></head>
<body>
<header class="top"><h1>{html.escape(title)}</h1>
<div><a href="#problems-section">{html.escape(facts)}</a><span class="dim">{where}</span>
</div></header>
<div class="controls">
<label>sort <select id="sort">
<option value="order">run order</option><option value="name">file name</option>
<option value="class">class</option><option value="probability">probability, high first</option>
<option value="probability-low">probability, low first</option></select></label>
<label>class <select id="class"><option value="">all classes</option>{class_options}</select>
</label>
<label>probability from <input id="min" type="number" min="0" max="100" step="1"
placeholder="0">to <input id="max" type="number" min="0" max="100" step="1"
placeholder="100"> %</label>
<label>file <input id="search" type="search" placeholder="name contains"></label>
<span id="count"></span>
</div>
<main>
<div id="cards">
{"".join(cards)}
</div>
<section id="problems-section"><h2>Failed and skipped files ({len(problems)})</h2>
{_problems_table(problems)}</section>
<section><h2>Settings of the run</h2>{_settings_table(run)}</section>
</main>
<script>{_SCRIPT}</script>
</body></html>
"""
