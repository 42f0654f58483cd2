"""DICOMweb for MedSite (PS3.18): STOW-RS, QIDO-RS and WADO-RS under /dicomweb/, for viewers such as OHIF and for
PACS that store over HTTP. views.py: the endpoints (authentication, access checks, audit); stow.py: storing a
request's parts through the import service; qido.py: query keys and DICOM JSON rows; instances.py: a study's
instances (images and AI result objects) and their files, metadata, frames and renderings; multipart.py: bodies.
"""
