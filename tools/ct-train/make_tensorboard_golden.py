"""Golden TensorBoard event records for crates/ct-train (tests/tensorboard_golden.rs).

TensorBoard's own protobuf classes and record writer (tensorboard==2.20.0, pinned in
tools/ct-train/requirements.txt) serialise a file-version event and two scalar events with
fixed wall times; the Rust writer must produce the same bytes.

    python3 -m venv /tmp/tb && /tmp/tb/bin/pip install -r tools/ct-train/requirements.txt
    /tmp/tb/bin/python tools/ct-train/make_tensorboard_golden.py
"""
import io
import pathlib

from tensorboard.compat.proto import event_pb2, summary_pb2
from tensorboard.summary.writer.record_writer import RecordWriter

OUT = pathlib.Path(__file__).resolve().parents[2] / "crates/ct-train/tests/data/tensorboard_golden.bin"


def main() -> None:
    buf = io.BytesIO()
    w = RecordWriter(buf)
    w.write(event_pb2.Event(wall_time=1700000000.25, file_version="brain.Event:2").SerializeToString())
    s = summary_pb2.Summary(value=[
        summary_pb2.Summary.Value(tag="fold0/train/batch_loss", simple_value=1.0986123),
        summary_pb2.Summary.Value(tag="fold0/lr", simple_value=0.001),
    ])
    w.write(event_pb2.Event(wall_time=1700000001.5, step=1, summary=s).SerializeToString())
    s = summary_pb2.Summary(value=[
        summary_pb2.Summary.Value(tag="fold3/val/accuracy", simple_value=0.75),
    ])
    w.write(event_pb2.Event(wall_time=1700000100.0, step=300, summary=s).SerializeToString())
    OUT.write_bytes(buf.getvalue())
    print(f"wrote {OUT} ({len(buf.getvalue())} bytes)")


if __name__ == "__main__":
    main()
