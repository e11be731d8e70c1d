"""Pre-trained trackers for the demo concepts, as bundles (workbench.activation.bundles).

Built by ``python -m workbench.pretrained.build`` from the seeded demo corpus, with a simulated
user answering the rounds from the generator's ground truth; import them into any workspace with
``ws.import_pretrained()`` (or ``workbench bundle pretrained``) and activate them with no tagging.
"""
