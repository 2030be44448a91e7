import numpy as np
from sklearn.cluster import KMeans, MiniBatchKMeans

from mmc_bench.metrics import clustering_accuracy
from mmc_bench.nn.kmeans import fit_kmeans


def blobs(n=600, k=4, seed=0):
    rng = np.random.default_rng(seed)
    labels = np.arange(n) % k
    centres = 10 * rng.normal(size=(k, 5))
    return (centres[labels] + rng.normal(size=(n, 5))).astype(np.float32), labels


def test_up_to_the_limit_it_is_scikit_learns_kmeans():
    x, _ = blobs()
    model = fit_kmeans(x, 4, n_init=3, seed=1)
    reference = KMeans(4, n_init=3, random_state=1).fit(x)
    assert type(model) is KMeans
    np.testing.assert_array_equal(model.labels_, reference.labels_)


def test_above_the_limit_mini_batches_with_exact_labels_and_inertia():
    x, truth = blobs()
    model = fit_kmeans(x, 4, n_init=3, seed=1, full_limit=100)
    assert isinstance(model, MiniBatchKMeans)
    np.testing.assert_array_equal(model.labels_, model.predict(x))
    distances = ((x[:, None, :] - model.cluster_centers_[None]) ** 2).sum(axis=2)
    assert np.isclose(model.inertia_, distances.min(axis=1).sum(), rtol=1e-4)
    assert clustering_accuracy(truth, model.labels_) == 1.0
