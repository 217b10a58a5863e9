"""Prediction on the digits network: one row and all rows, the libraries'
blocks of calls alternating."""
import numpy as np

from fastbp._bench._common import digits_data, fmt_ms, fmt_x, time_calls
from fastbp._bench._train import TRAINERS

PREDICT_TARGET_ONE_ROW_US = 10.0

PREDICT_TARGET_VS_SKLEARN = 3.0


#: The libraries whose prediction is timed (the JAX program trains only).
PREDICT_LIBS = ("fastbp", "sklearn", "torch")


def run_predict(*, threads, libs, quick, log):
    """Time predict on one row and on all digits rows, the libraries'
    blocks of calls alternating."""
    libs = [lib for lib in libs if lib in PREDICT_LIBS]
    X, y = digits_data()
    hidden = (100,)
    res = {"rows_all": X.shape[0], "sizes": [64, 100, 10], "libs": {}}
    epochs = 5 if quick else 20
    from threadpoolctl import threadpool_limits

    predicts = {}
    for lib in libs:
        _, _, model = TRAINERS[lib](X, y, hidden, 200, epochs, threads)
        if lib == "torch":
            import torch

            torch.set_num_threads(threads)
            model.eval()

            def predict(A, model=model):
                with torch.inference_mode():
                    return model(torch.from_numpy(A)).argmax(1).numpy()
        else:
            predict = model.predict
        predicts[lib] = predict
    one = np.ascontiguousarray(X[:1])
    blocks = 3 if quick else 9
    with threadpool_limits(limits=threads, user_api="blas"):
        acc = {lib: float(np.mean(p(X) == y)) for lib, p in predicts.items()}
        # the libraries' blocks of calls alternate, like their fits
        t1 = time_calls({lib: (lambda p=p: p(one)) for lib, p in predicts.items()},
                        blocks=blocks)
        ta = time_calls({lib: (lambda p=p: p(X)) for lib, p in predicts.items()},
                        blocks=blocks)
    for lib in libs:
        res["libs"][lib] = {"one_row_us": 1e6 * t1[lib], "all_rows_us": 1e6 * ta[lib],
                            "train_accuracy": acc[lib]}
        log(f"  predict {lib}: 1 row {1e6 * t1[lib]:.1f} us, {X.shape[0]} rows "
            f"{1e6 * ta[lib]:.1f} us (train accuracy {acc[lib]:.3f})")
    fb = res["libs"].get("fastbp")
    checks = {}
    if fb:
        checks["one_row_us"] = (fb["one_row_us"], PREDICT_TARGET_ONE_ROW_US,
                                fb["one_row_us"] <= PREDICT_TARGET_ONE_ROW_US)
        for lib in ("sklearn", "torch"):
            if lib in res["libs"]:
                for k in ("one_row_us", "all_rows_us"):
                    res["libs"][lib][k.replace("_us", "_speedup")] = (
                        res["libs"][lib][k] / fb[k])
        if "sklearn" in res["libs"]:
            v = res["libs"]["sklearn"]["all_rows_speedup"]
            checks["all_rows_xsklearn"] = (v, PREDICT_TARGET_VS_SKLEARN,
                                           v >= PREDICT_TARGET_VS_SKLEARN)
    res["checks"] = checks
    return res


def format_predict(pred, table):
    """The prediction table; `table(headers, rows)` lays it out."""
    headers = ["predict (digits 64-100-10)", "fastbp", "sklearn", "torch",
               "vs sklearn", "vs torch", "fastbp aims at", "reached"]
    L = pred["libs"]
    rows = []
    for key, label in (("one_row", "1 row, us per call"),
                       ("all_rows", f"{pred['rows_all']} rows, us per call")):
        if key == "one_row":
            c = pred["checks"].get("one_row_us")
            tgt = f"<={PREDICT_TARGET_ONE_ROW_US:g} us" if c else "-"
        else:
            c = pred["checks"].get("all_rows_xsklearn")
            tgt = f">={PREDICT_TARGET_VS_SKLEARN:g}x sklearn" if c else "-"
        rows.append([label,
                     *(fmt_ms(L.get(lib, {}).get(f"{key}_us")) for lib in PREDICT_LIBS),
                     fmt_x(L.get("sklearn", {}).get(f"{key}_speedup")),
                     fmt_x(L.get("torch", {}).get(f"{key}_speedup")),
                     tgt, ("yes" if c[2] else "no") if c else "-"])
    return table(headers, rows)
