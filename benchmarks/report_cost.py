"""What the HTML report costs on a 1,000-photo run (`tf_gradcam.report.write_report`).

A run folder is generated the way `tf-gradcam explain` writes one (`runs.Summary`,
`records.row`): N JPEG photos (default 1024x768) and their top-1 overlays as PNG at the same
size. Measured, single process:

1. the first `write_report` (thumbnails of every original and overlay, then the page);
2. a refresh with nothing new (what each batch after the last new image costs: reading the
   summary, checking the thumbnails exist, writing the page);
3. the refreshes of a whole run as the CLI makes them (one per batch of 16, the summary
   growing), thumbnails included, against the run's images written without a report.

Usage:
    python benchmarks/report_cost.py              # 1,000 photos
    python benchmarks/report_cost.py --photos 200 --size 640 480
"""

import argparse
import os
import pathlib
import sys
import tempfile
import time

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent))


def make_run(folder, n, size, batch):
    """Photos and overlays on disk, and the summary rows in batches (not yet written)."""
    import cv2
    import numpy as np

    from tf_gradcam import records, visualize

    rng = np.random.default_rng(0)
    photos, out = folder / "photos", folder / "out"
    photos.mkdir()
    out.mkdir()
    width, height = size
    base = cv2.resize(rng.integers(0, 256, (height // 16, width // 16, 3), dtype=np.uint8),
                      (width, height), interpolation=cv2.INTER_CUBIC)
    heat = rng.uniform(0, 1, (7, 7))
    start, cpu = time.perf_counter(), time.process_time()
    batches, rows = [], []
    for i in range(n):
        photo = np.roll(base, 7 * i, axis=1)
        cv2.imwrite(str(photos / f"{i:05d}.jpg"), photo)
        picture = visualize.overlay(photo, heat, caption=f"class {i % 10} 50.0%\ngradcam")
        overlay = out / f"{i:05d}_class{i % 10}_gradcam.png"
        cv2.imwrite(str(overlay), picture)
        item = records.Explained(1, i % 10, 1.0, 0.5 + 0.4 * rng.random(), heat)
        rows.append(records.row(os.path.relpath(photos / f"{i:05d}.jpg", folder), item,
                                layer="conv", method="gradcam",
                                overlay=os.path.relpath(overlay, folder),
                                original_size=(height, width)))
        if len(rows) == batch:
            batches.append(rows)
            rows = []
    if rows:
        batches.append(rows)
    return out, batches, (time.perf_counter() - start, time.process_time() - cpu)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--photos", type=int, default=1000)
    parser.add_argument("--size", type=int, nargs=2, default=(1024, 768), metavar=("W", "H"))
    parser.add_argument("--batch", type=int, default=16)
    args = parser.parse_args()

    from tf_gradcam import report, runs

    with tempfile.TemporaryDirectory() as work:
        work = pathlib.Path(work)
        os.chdir(work)
        out, batches, writing = make_run(work, args.photos, args.size, args.batch)
        summary = runs.Summary(out, fresh=True)
        start, cpu = time.perf_counter(), time.process_time()
        for rows in batches:       # as the CLI does: append a batch, refresh the page
            summary.append(rows)
            report.write_report(out)
        streamed, streamed_cpu = time.perf_counter() - start, time.process_time() - cpu
        summary.close()
        start, cpu = time.perf_counter(), time.process_time()
        report.write_report(out)
        refresh, refresh_cpu = time.perf_counter() - start, time.process_time() - cpu
        for thumbnail in (out / report.THUMBNAILS).iterdir():
            thumbnail.unlink()
        report._MADE.clear()
        start = time.perf_counter()
        report.write_report(out)
        first = time.perf_counter() - start
        page = (out / report.PAGE).stat().st_size
        thumbs = sum(p.stat().st_size for p in (out / report.THUMBNAILS).iterdir())
    n = args.photos
    print(f"{n} photos {args.size[0]}x{args.size[1]}, top-1, batches of {args.batch}:")
    writing, writing_cpu = writing
    print("(wall s / CPU s of this process; the machine may be shared)")
    print(f"  writing the photos and their captioned overlays (JPEG + overlay + PNG, no "
          f"model): {writing:.1f} / {writing_cpu:.1f} s ({1000 * writing_cpu / n:.1f} ms CPU "
          f"per photo)")
    print(f"  report, refreshed per batch during the run ({len(batches)} refreshes, "
          f"thumbnails included): {streamed:.1f} / {streamed_cpu:.1f} s "
          f"({1000 * streamed_cpu / n:.1f} ms CPU per photo, "
          f"{streamed_cpu / writing_cpu:.2f}x the photo + overlay writing)")
    print(f"  report from scratch (all thumbnails): {first:.1f} s wall; refresh of the "
          f"finished run with nothing new: {1000 * refresh:.0f} / {1000 * refresh_cpu:.0f} ms")
    print(f"  page {page / 1e6:.2f} MB, thumbnails {thumbs / 1e6:.1f} MB "
          f"({thumbs / 1e3 / (2 * n):.0f} kB each)")


if __name__ == "__main__":
    main()
