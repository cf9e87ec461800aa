"""Networks trained on audio: the short-chunk CNN (:mod:`.shortchunk`) and fine-tuned musicnn
(:mod:`.finetune`)."""
