"""edgefashion export-triton MODEL -o REPO: a Triton model repository (model + pre/post + ensemble)."""
from __future__ import annotations


def add_parser(sub) -> None:
    p = sub.add_parser("export-triton", help="write a Triton Inference Server model repository "
                                             "(network, Python pre/post-processing, ensemble)")
    p.add_argument("model", help=".onnx (onnxruntime backend), .engine / .plan (tensorrt_plan) or "
                                 "OpenVINO .xml")
    p.add_argument("-o", "--output", required=True, help="the model repository folder")
    p.add_argument("--name", default="edgefashion", help="the ensemble's name (clients call it)")
    p.add_argument("--max-batch", type=int, default=8, help="max_batch_size of every model")
    p.add_argument("--preferred-batch", type=int, nargs="+", default=(),
                   help="dynamic batching: preferred batch sizes")
    p.add_argument("--max-delay-us", type=int, default=2000,
                   help="dynamic batching: max_queue_delay_microseconds")
    p.add_argument("--instances", type=int, default=1, help="instances of the network")
    p.add_argument("--kind", choices=["auto", "cpu", "gpu"], default="auto",
                   help="instance kind of the network (auto: GPU for an engine)")
    p.add_argument("--python-instances", type=int, default=2,
                   help="instances of each Python pre/post-processing model")
    p.add_argument("--top-k", type=int, default=5)
    p.add_argument("--python-env", help="EXECUTION_ENV_PATH of the Python models: a conda-pack "
                                        ".tar.gz or a folder with bin/activate (holding edgefashion)")
    p.add_argument("--onnx", help="for an engine: the ONNX it was built from (tensor names/shapes)")
    p.add_argument("--overwrite", action="store_true")
    p.set_defaults(run=run)


def run(args) -> int:
    from edgefashion.deploy.triton_repo import TritonOptions, export_triton

    opts = TritonOptions(name=args.name, max_batch=args.max_batch,
                         preferred_batch=tuple(args.preferred_batch), max_delay_us=args.max_delay_us,
                         instances=args.instances, kind=args.kind,
                         python_instances=args.python_instances, top_k=args.top_k,
                         python_env=args.python_env)
    repo = export_triton(args.model, args.output, opts, onnx=args.onnx, overwrite=args.overwrite)
    print(f"wrote Triton model repository {repo} (ensemble {args.name!r}); run: tritonserver "
          f"--model-repository {repo}", flush=True)
    return 0
