"""ClipBERT beside VideoBERT: sparse clips sampled straight from the video files, a ResNet + BERT
trained end to end on them, and text-to-video retrieval (`make clipbert`, `make retrieval`).

    sampling    PyAV seek-based sparse (training) / dense (inference) clip sampling
    data        video-text pairs, the decoding Dataset, batch sampler, collate
    modeling    the model (ResNet trunk → visual grid → BERT → matching head)
    init        pretrained BERT / ImageNet trunk loading
    datasets    training pairs and retrieval sets: the corpus, the sample world, MSRVTT, YouCook II
    train       `make clipbert`
    retrieval   `make retrieval`: R@1/5/10 and median rank, ClipBERT and VideoBERT beside chance
"""
