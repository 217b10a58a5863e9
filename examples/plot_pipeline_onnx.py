"""
In a Pipeline with GridSearchCV, then served with ONNX Runtime
==============================================================

:class:`fastbp.MLPClassifier` is a scikit-learn estimator: it goes into a
:class:`~sklearn.pipeline.Pipeline` and a grid search like any other. The
fitted pipeline then converts to ONNX with skl2onnx (after
:func:`fastbp.register_skl2onnx`), and ONNX Runtime serves it without
Python's scikit-learn or fastbp.
"""

# %%
# A pipeline and a small grid search
# ----------------------------------
import warnings

import numpy as np
from sklearn.datasets import load_breast_cancer
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import GridSearchCV, train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import fastbp

X, y = load_breast_cancer(return_X_y=True)
X_train, X_test, y_train, y_test = train_test_split(X, y, random_state=0)

pipe = make_pipeline(StandardScaler(),
                     fastbp.MLPClassifier(max_iter=300, random_state=0))
search = GridSearchCV(pipe, {"mlpclassifier__hidden_layer_sizes": [(16,), (64,)],
                             "mlpclassifier__alpha": [1e-4, 1e-2]}, cv=3)
with warnings.catch_warnings():
    warnings.simplefilter("ignore", ConvergenceWarning)  # some fits use all 300 epochs
    search.fit(X_train, y_train)
print("best parameters:", search.best_params_)
print(f"test accuracy {search.score(X_test, y_test):.3f}")

# %%
# Convert the whole pipeline with skl2onnx
# ----------------------------------------
# skl2onnx takes the graph's input type from the sample it is given: give
# it float32 data. ``zipmap=False`` returns the probabilities as a plain
# matrix rather than a list of dictionaries.
import onnxruntime as ort  # noqa: E402
import skl2onnx  # noqa: E402

fastbp.register_skl2onnx()
best = search.best_estimator_
onx = skl2onnx.to_onnx(best, X_train[:1].astype(np.float32),
                       options={"zipmap": False})
sess = ort.InferenceSession(onx.SerializeToString(),
                            providers=["CPUExecutionProvider"])
labels, proba = sess.run(None, {"X": X_test.astype(np.float32)})
print("inputs:", [i.name for i in sess.get_inputs()],
      "outputs:", [o.name for o in sess.get_outputs()])
print("same labels as the pipeline:", np.array_equal(labels, best.predict(X_test)))
print("largest probability difference:",
      f"{np.abs(proba - best.predict_proba(X_test)).max():.1e} (float32 graph)")

# %%
# The estimator alone
# -------------------
# :func:`fastbp.to_onnx` converts a fitted fastbp estimator without skl2onnx.
clf = best[-1]
sess = ort.InferenceSession(fastbp.to_onnx(clf).SerializeToString(),
                            providers=["CPUExecutionProvider"])
Xs = best[0].transform(X_test).astype(np.float32)
labels, proba = sess.run(None, {"X": Xs})
print("same labels:", np.array_equal(labels, clf.predict(Xs)))
