"""covid-ct's chest-CT kernels for Python.

Each submodule mirrors the library a radiology-AI engineer would otherwise call, with the
same function names, argument names and defaults, so that one import changes:

* ``covid_ct.io``: DICOM series, NIfTI, npy and slice folders in Hounsfield units (pydicom,
  nibabel);
* ``covid_ct.morph``: scipy.ndimage's binary morphology, hole filling and labelling;
* ``covid_ct.similarity``: scikit-image's SSIM and PSNR, imagehash's four hashes;
* ``covid_ct.enhance``: OpenCV's ``equalizeHist`` and CLAHE, scipy.ndimage's ``zoom``;
* ``covid_ct.ot``: POT's ``emd``, ``emd2``, ``sinkhorn`` and ``sinkhorn2``;
* ``covid_ct.ensemble``: scikit-learn-style ``SVC`` and ``XGBClassifier``, and
  ``classification_report``.

The work runs in Rust without the GIL; arrays are read in place whatever their strides.
Anything the reference library would accept but covid_ct does not implement raises a
``ValueError`` naming the argument, rather than computing something else.
"""

from . import enhance, ensemble, io, morph, ot, similarity
from ._native import __version__

__all__ = ["enhance", "ensemble", "io", "morph", "ot", "similarity", "__version__"]
