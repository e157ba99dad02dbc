// SoftmaxCrossEntropy<T>: the classification loss on a batch of logits and integer labels.
#pragma once

#include <cmath>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "convlayer/core/eigen_types.hpp"
#include "convlayer/core/volume.hpp"

namespace convlayer {

/// loss = mean over samples n of -log softmax(z_n)[label_n], where z_n are the H*W*D logits of
/// sample n (usually [N, 1, 1, C]). The log-softmax is computed as
///   log p_c = z_c - m - log(sum_j exp(z_j - m)),   m = max_j z_j,
/// so no exp overflows. Gradient: dloss/dz_n = (softmax(z_n) - onehot(label_n)) / N.
///
/// It is not a Layer (it takes labels and returns a number), but it follows the same pattern:
/// forward() keeps the probabilities that backward() needs, in buffers reused across batches.
template <typename T>
class SoftmaxCrossEntropy {
public:
    /// Mean loss over the batch. Throws std::invalid_argument unless there is one label per
    /// sample and every label is in [0, C), and when `logits` views the loss's own probabilities().
    T forward(const Volume<T>& logits, const std::vector<int>& labels) {
        const index_t n = logits.shape().n, classes = n > 0 ? logits.size() / n : 0;
        check_labels(labels, n, classes);
        if (overlaps(probabilities_, logits))
            throw std::invalid_argument("SoftmaxCrossEntropy::forward: the logits overlap probabilities() in memory");
        ConstRowMatrixMap<T> z(logits.data(), n, classes);
        probabilities_.resize(logits.shape());
        RowMatrixMap<T> p(probabilities_.data(), n, classes);
        labels_ = labels;
        double total = 0;
        for (index_t i = 0; i < n; ++i) {
            const T m = z.row(i).maxCoeff();
            p.row(i) = (z.row(i).array() - m).exp();
            const T sum = p.row(i).sum();
            p.row(i) /= sum;
            total += static_cast<double>(m + std::log(sum) - z(i, labels[static_cast<std::size_t>(i)]));
        }
        return static_cast<T>(total / static_cast<double>(n));
    }

    /// dloss/dlogits for the last forward(); `dlogits` is resized to the logits' shape and must not
    /// overlap probabilities() (std::invalid_argument).
    void backward(Volume<T>& dlogits) const {
        if (labels_.empty()) throw std::logic_error("SoftmaxCrossEntropy::backward: call forward() first");
        if (overlaps(dlogits, probabilities_))
            throw std::invalid_argument("SoftmaxCrossEntropy::backward: dlogits overlaps probabilities() in memory");
        const index_t n = probabilities_.shape().n, classes = probabilities_.size() / n;
        dlogits.resize(probabilities_.shape());
        RowMatrixMap<T> g(dlogits.data(), n, classes);
        g = ConstRowMatrixMap<T>(probabilities_.data(), n, classes) / static_cast<T>(n);
        for (index_t i = 0; i < n; ++i) g(i, labels_[static_cast<std::size_t>(i)]) -= T(1) / static_cast<T>(n);
    }

    /// softmax(z) of the last forward(), same shape as the logits.
    const Volume<T>& probabilities() const { return probabilities_; }

private:
    static void check_labels(const std::vector<int>& labels, index_t n, index_t classes) {
        std::ostringstream os;
        if (static_cast<index_t>(labels.size()) != n) {
            os << "SoftmaxCrossEntropy: " << labels.size() << " labels for a batch of " << n << " samples";
            throw std::invalid_argument(os.str());
        }
        for (std::size_t i = 0; i < labels.size(); ++i)
            if (labels[i] < 0 || labels[i] >= classes) {
                os << "SoftmaxCrossEntropy: label " << labels[i] << " of sample " << i << " is outside [0, " << classes
                   << ")";
                throw std::invalid_argument(os.str());
            }
    }

    Volume<T> probabilities_;
    std::vector<int> labels_;
};

/// The index of the largest of each sample's H*W*D values (the predicted class of logits or
/// probabilities), written to `out` (resized, storage reused); ties go to the lowest index.
template <typename T>
void predicted_classes(const Volume<T>& scores, std::vector<int>& out) {
    const index_t n = scores.shape().n, classes = n > 0 ? scores.size() / n : 0;
    ConstRowMatrixMap<T> s(scores.data(), n, classes);
    out.resize(static_cast<std::size_t>(n));
    for (index_t i = 0; i < n; ++i) {
        Eigen::Index best = 0;
        s.row(i).maxCoeff(&best);
        out[static_cast<std::size_t>(i)] = static_cast<int>(best);
    }
}

/// The same, returned as a new vector.
template <typename T>
std::vector<int> predicted_classes(const Volume<T>& scores) {
    std::vector<int> out;
    predicted_classes(scores, out);
    return out;
}

}  // namespace convlayer
