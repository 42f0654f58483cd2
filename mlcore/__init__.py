"""mlcore: framework-free ML core of MedSite (data, model, training, bundles, inference).

Never imports Django, and is cheap to import: submodules pull in TensorFlow/Keras themselves.
"""

__version__ = "0.1.0"
