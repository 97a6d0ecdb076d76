// One decoding step of a choice-set trie (choice_sets/trie.py): the CSR rows of a batch of nodes
// into a next-token mask, and the moves along the chosen tokens. Scalar: a step touches a few
// edges per request; the cost the torch path pays is its ~18 op dispatches, not the work.
#include <torch/extension.h>

#include <algorithm>
#include <cstring>

namespace ss {

// mask [B, V] bool: root (node 0) rows copy root_mask [V]; a node without edges (an item ended)
// allows only end_token; any other node its edges' tokens (edge_key = parent * V + token).
at::Tensor trie_mask(const at::Tensor& nodes, const at::Tensor& row_start,
                     const at::Tensor& edge_key, const at::Tensor& root_mask, int64_t end_token) {
  TORCH_CHECK(nodes.scalar_type() == at::kLong && row_start.scalar_type() == at::kLong &&
                  edge_key.scalar_type() == at::kLong && root_mask.scalar_type() == at::kBool,
              "trie_mask needs int64 nodes/row_start/edge_key and a bool root_mask");
  const auto nd = nodes.contiguous();
  const int64_t b = nd.numel(), vocab = root_mask.numel(), n_nodes = row_start.numel() - 1;
  auto mask = at::zeros({b, vocab}, at::kBool);
  bool* m = mask.data_ptr<bool>();
  const int64_t* ns = nd.data_ptr<int64_t>();
  const int64_t* rs = row_start.data_ptr<int64_t>();
  const int64_t* ek = edge_key.data_ptr<int64_t>();
  const bool* root = root_mask.contiguous().data_ptr<bool>();
  for (int64_t i = 0; i < b; ++i) {
    const int64_t node = ns[i];
    TORCH_CHECK(node >= 0 && node < n_nodes, "trie node ", node, " out of range");
    bool* row = m + i * vocab;
    if (node == 0) {
      std::memcpy(row, root, static_cast<size_t>(vocab));
    } else if (rs[node] == rs[node + 1]) {
      row[end_token] = true;
    } else {
      for (int64_t k = rs[node]; k < rs[node + 1]; ++k) row[ek[k] - node * vocab] = true;
    }
  }
  return mask;
}

// tokens [B, K] int64, K the widest row of the batch: each node's edge tokens (the root's CSR
// row holds them too), the last one repeated to fill K; a node without edges allows end_token.
at::Tensor trie_next(const at::Tensor& nodes, const at::Tensor& row_start,
                     const at::Tensor& edge_key, int64_t end_token, int64_t vocab) {
  TORCH_CHECK(nodes.scalar_type() == at::kLong && row_start.scalar_type() == at::kLong &&
                  edge_key.scalar_type() == at::kLong,
              "trie_next needs int64 nodes/row_start/edge_key");
  const auto nd = nodes.contiguous();
  const int64_t b = nd.numel(), n_nodes = row_start.numel() - 1;
  const int64_t* ns = nd.data_ptr<int64_t>();
  const int64_t* rs = row_start.data_ptr<int64_t>();
  const int64_t* ek = edge_key.data_ptr<int64_t>();
  int64_t width = 1;
  for (int64_t i = 0; i < b; ++i) {
    TORCH_CHECK(ns[i] >= 0 && ns[i] < n_nodes, "trie node ", ns[i], " out of range");
    width = std::max(width, rs[ns[i] + 1] - rs[ns[i]]);
  }
  auto tokens = at::empty({b, width}, at::kLong);
  int64_t* out = tokens.data_ptr<int64_t>();
  for (int64_t i = 0; i < b; ++i) {
    const int64_t node = ns[i], first = rs[node], count = rs[node + 1] - first;
    int64_t* row = out + i * width;
    for (int64_t k = 0; k < count; ++k) row[k] = ek[first + k] - node * vocab;
    const int64_t fill = count == 0 ? end_token : row[count - 1];
    std::fill(row + count, row + width, fill);
  }
  return tokens;
}

// next [B] int64: the child along tokens[i] (binary search in node's edge row), -1 when the
// token is not an edge; a node without edges stays.
at::Tensor trie_advance(const at::Tensor& nodes, const at::Tensor& tokens,
                        const at::Tensor& row_start, const at::Tensor& edge_key,
                        const at::Tensor& edge_child, int64_t vocab) {
  TORCH_CHECK(nodes.scalar_type() == at::kLong && tokens.scalar_type() == at::kLong &&
                  edge_child.scalar_type() == at::kInt && nodes.numel() == tokens.numel(),
              "trie_advance needs int64 nodes/tokens of one size and int32 edge_child");
  const auto nd = nodes.contiguous(), tk = tokens.contiguous();
  const int64_t b = nd.numel(), n_nodes = row_start.numel() - 1;
  auto next = at::empty({b}, at::kLong);
  int64_t* out = next.data_ptr<int64_t>();
  const int64_t* ns = nd.data_ptr<int64_t>();
  const int64_t* ts = tk.data_ptr<int64_t>();
  const int64_t* rs = row_start.data_ptr<int64_t>();
  const int64_t* ek = edge_key.data_ptr<int64_t>();
  const int32_t* ec = edge_child.data_ptr<int32_t>();
  for (int64_t i = 0; i < b; ++i) {
    const int64_t node = ns[i];
    TORCH_CHECK(node >= 0 && node < n_nodes, "trie node ", node, " out of range");
    if (rs[node] == rs[node + 1]) {
      out[i] = node;
      continue;
    }
    const int64_t key = node * vocab + ts[i];
    const int64_t* hit = std::lower_bound(ek + rs[node], ek + rs[node + 1], key);
    out[i] = (hit != ek + rs[node + 1] && *hit == key) ? ec[hit - ek] : -1;
  }
  return next;
}

}  // namespace ss
