// bayes_score.cpp - the arithmetic of the classifier: Robinson's f(w),
// the chi-square tail probability and Fisher's combining of token
// probabilities into one score (the method of bogofilter and SpamBayes).
// Called by lib/bayes.cpp; tested against hand-computed values.
#include <algorithm>
#include <cmath>

#include "lib/bayes.hpp"

namespace tern::bayes {

const char* verdict_name(verdict v) {
    switch (v) {
    case verdict::ham: return "ham";
    case verdict::spam: return "spam";
    case verdict::unsure: break;
    }
    return "unsure";
}

double token_probability(counts c, uint32_t nspam, uint32_t nham, const score_params& p) {
    double n = double(c.spam) + double(c.ham);
    if (n == 0) return p.robx;
    // frequencies relative to the number of training messages of each
    // class, so that an unequal training mix does not bias f(w)
    double bs = std::min(1.0, double(c.spam) / std::max<uint32_t>(nspam, 1));
    double bh = std::min(1.0, double(c.ham) / std::max<uint32_t>(nham, 1));
    double pw = bs + bh > 0 ? bs / (bs + bh) : p.robx;
    return (p.robs * p.robx + n * pw) / (p.robs + n);
}

// Q(x2 | dof) = exp(-m) * sum_{i<k} m^i / i!  with m = x2/2, k = dof/2.
// The terms are summed outwards from the largest one, scaled by it, so
// that neither exp(-m) underflowing nor m^i overflowing loses the result.
double chi2_q(double x2, unsigned dof) {
    unsigned k = dof / 2;
    if (k == 0) return 1.0;
    double m = x2 / 2;
    if (!(m > 0)) return 1.0;
    double lm = std::log(m);
    unsigned top = static_cast<unsigned>(std::min<double>(k - 1, std::floor(m)));
    double log_top = -m + top * lm - std::lgamma(double(top) + 1);
    double sum = 1.0;
    double term = 1.0;
    for (unsigned i = top; i > 0; i--) {  // term(i-1) = term(i) * i / m
        term *= double(i) / m;
        sum += term;
        if (term < sum * 1e-17) break;
    }
    term = 1.0;
    for (unsigned i = top + 1; i < k; i++) {  // term(i) = term(i-1) * m / i
        term *= m / double(i);
        sum += term;
        if (term < sum * 1e-17) break;
    }
    double q = std::exp(log_top + std::log(sum));
    return std::min(1.0, q);
}

double combine(const std::vector<double>& probs) {
    if (probs.empty()) return 0.5;
    double ln_ham = 0, ln_spam = 0;
    for (double f : probs) {
        f = std::clamp(f, 1e-9, 1 - 1e-9);
        ln_ham += std::log(f);       // small f (hammy tokens) drive this down
        ln_spam += std::log1p(-f);   // large f (spammy tokens) drive this down
    }
    unsigned dof = static_cast<unsigned>(2 * probs.size());
    double s = 1 - chi2_q(-2 * ln_spam, dof);  // near 1: the spammy tokens are not chance
    double h = 1 - chi2_q(-2 * ln_ham, dof);   // near 1: the hammy tokens are not chance
    return (1 + s - h) / 2;
}

verdict verdict_for(double score, const score_params& p) {
    if (score >= p.spam_cutoff) return verdict::spam;
    if (score < p.ham_cutoff) return verdict::ham;
    return verdict::unsure;
}

}  // namespace tern::bayes
