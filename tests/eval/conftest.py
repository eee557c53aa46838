"""Fixtures for evaluation tests: a tiny BPE tokenizer, tiny lmforge and Hugging Face OLMo models, and tiny
task files in the datasets' own field layouts (all built here; nothing from the network or /work/shared)."""

from __future__ import annotations

import gzip
import json
import os

import pytest
import torch

EOS = "<eos>"

TEXTS = [
    "The man turned on the faucet. Water flowed from the spout.",
    "Which technology was developed most recently? cellular telephone television refrigerator airplane",
    "A student hypothesizes that algae are producers. Do algae use sunlight to make food?",
    "Sarah was a much better surgeon than Maria so she always got the harder cases.",
    "How do I ready a guinea pig cage for its new occupants? Provide bedding made of paper strips.",
    "Roof shingle removal: A man is sitting on a roof. He starts pulling up roofing on a roof.",
    "Question: Answer: yes no true false because therefore the a an of to in is was",
    "def main():\n    print('hello world')\n    return 0\n",
]

TASK_ROWS = {
    "arc_easy": [
        {
            "id": "a1",
            "question": "Which is a fruit?",
            "choices": {"text": ["apple", "rock", "cloud"], "label": ["A", "B", "C"]},
            "answerKey": "A",
        },
        {
            "id": "a2",
            "question": "What do algae use to make food?",
            "choices": {"text": ["sunlight", "sand", "salt", "stone"], "label": ["1", "2", "3", "4"]},
            "answerKey": "1",
        },
        {
            "id": "a3",
            "question": "What flows from the spout?",
            "choices": {"text": ["water", "bread"], "label": ["A", "B"]},
            "answerKey": "A",
        },
    ],
    "boolq": [
        {"question": "is water wet", "answer": True, "passage": "Water flowed from the spout."},
        {"question": "is a rock a fruit", "answer": False, "passage": "An apple is a fruit."},
    ],
    "hellaswag": [
        {
            "ind": 1,
            "activity_label": "Roof shingle removal",
            "ctx_a": "A man is sitting on a roof.",
            "ctx_b": "he",
            "ctx": "A man is sitting on a roof. he",
            "endings": [
                "is using wrap to wrap a pair of skis.",
                "starts pulling up roofing [title] on a roof.",
                "is ripping  tiles off.",
                "[header] is holding a cube.",
            ],
            "source_id": "x",
            "split": "val",
            "split_type": "indomain",
            "label": "1",
        },
        {
            "ind": 2,
            "activity_label": "Cleaning",
            "ctx_a": "A lady walks to a sink. [step] She",
            "ctx_b": "",
            "ctx": "A lady walks to a sink.",
            "endings": ["washes.", "flies.", "sings.", "sleeps."],
            "source_id": "y",
            "split": "val",
            "split_type": "zeroshot",
            "label": "0",
        },
    ],
    "openbookqa": [
        {
            "id": "o1",
            "question_stem": "Gas can fill any container it is given, and liquid",
            "choices": {"text": ["is heavy", "uses what it needs"], "label": ["A", "B"]},
            "answerKey": "B",
        },
        {
            "id": "o2",
            "question_stem": "Sharks live",
            "choices": {"text": ["in the sea", "on roofs"], "label": ["A", "B"]},
            "answerKey": " A",
        },
    ],
    "piqa": [
        {
            "goal": "How do I ready a guinea pig cage?",
            "sol1": "Provide bedding made of paper.",
            "sol2": "Provide bedding made of jeans.",
            "label": 0,
        },
        {
            "goal": "dresser",
            "sol1": "replace drawer with bobby pin ",
            "sol2": "finish with  pin ",
            "label": 1,
        },
    ],
    "sciq": [
        {
            "question": "Who proposed evolution?",
            "distractor3": "Scopes",
            "distractor1": "Linnaeus",
            "distractor2": "shaw",
            "correct_answer": "darwin",
            "support": "",
        },
        {
            "question": "Which acids?",
            "distractor3": "hydrochloric",
            "distractor1": "fatty",
            "distractor2": "lactic",
            "correct_answer": "amino",
            "support": "  Proteins are made of amino acids.",
        },
    ],
    "social_iqa": [
        {
            "context": "Tracy didn't go home.",
            "question": "What does Tracy need to do?",
            "answerA": "make a plan",
            "answerB": "Go home",
            "answerC": "Find somewhere to go",
            "label": "3",
        },
        {
            "context": "Sydney felt bad.",
            "question": "How would you describe Sydney?",
            "answerA": "sympathetic",
            "answerB": "unable to help",
            "answerC": "incredulous",
            "label": "1",
        },
    ],
    "copa": [
        {
            "premise": "The man turned on the faucet.",
            "choice1": "The toilet filled with water.",
            "choice2": "Water flowed from the spout.",
            "question": "effect",
            "idx": 0,
            "label": 1,
        },
        {
            "premise": "The girl found a bug in her cereal.",
            "choice1": "She poured milk.",
            "choice2": "She lost her appetite.",
            "question": "cause",
            "idx": 1,
            "label": 1,
        },
    ],
    "commonsense_qa": [
        {
            "id": "c1",
            "question": " A revolving door is a security measure at a what? ",
            "question_concept": "door",
            "choices": {
                "label": ["A", "B", "C", "D", "E"],
                "text": ["bank", "library", "store", "mall", "york"],
            },
            "answerKey": "A",
        },
        {
            "id": "c2",
            "question": "What do people aim to do at work?",
            "question_concept": "people",
            "choices": {
                "label": ["A", "B", "C", "D", "E"],
                "text": ["complete job", "learn", "kill", "wear", "talk"],
            },
            "answerKey": "E",
        },
    ],
    "winogrande": [
        {
            "sentence": "Sarah was a better surgeon than Maria so _ always got the easier cases.",
            "option1": "Sarah",
            "option2": "Maria",
            "answer": "2",
        },
        {
            "sentence": "The cage was too small for the pig so _ was moved.",
            "option1": "cage",
            "option2": "pig",
            "answer": "2",
        },
    ],
}
TASK_ROWS["arc_challenge"] = TASK_ROWS["arc_easy"][::-1]

MMLU_ROWS = {
    "dev": [
        {"question": "1 + 1 =", "subject": "abstract_algebra", "choices": ["1", "2", "3", "4"], "answer": 1},
        {"question": "2 + 2 =", "subject": "abstract_algebra", "choices": ["4", "2", "3", "1"], "answer": 0},
        {"question": "Bones?", "subject": "anatomy", "choices": ["206", "2", "3", "1"], "answer": 0},
        {"question": "Heart chambers?", "subject": "anatomy", "choices": ["1", "2", "3", "4"], "answer": 3},
    ],
    "test": [
        {"question": "3 + 1 =", "subject": "abstract_algebra", "choices": ["1", "2", "3", "4"], "answer": 3},
        {
            "question": " Which group? ",
            "subject": "abstract_algebra",
            "choices": ["Z", "Q", "R", "C"],
            "answer": 0,
        },
        {"question": "Lungs?", "subject": "anatomy", "choices": ["2", "1", "3", "4"], "answer": 0},
    ],
}


def write_jsonl_gz(path: str, rows: list[dict]) -> None:
    with gzip.open(path, "wt", encoding="utf-8") as f:
        for row in rows:
            f.write(json.dumps(row) + "\n")


@pytest.fixture(scope="session")
def mmlu_rows() -> dict[str, list[dict]]:
    return MMLU_ROWS


@pytest.fixture(scope="session")
def sample_texts() -> list[str]:
    return TEXTS


@pytest.fixture(scope="session")
def tokenizer_dir(tmp_path_factory) -> str:
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    folder = str(tmp_path_factory.mktemp("tok"))
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=400, special_tokens=[EOS, "<pad>"], initial_alphabet=pre_tokenizers.ByteLevel.alphabet()
    )
    corpus = TEXTS + [json.dumps(r) for rows in TASK_ROWS.values() for r in rows]
    tok.train_from_iterator(corpus * 3, trainer)
    tok.save(os.path.join(folder, "tokenizer.json"))
    from transformers import PreTrainedTokenizerFast

    hf = PreTrainedTokenizerFast(
        tokenizer_file=os.path.join(folder, "tokenizer.json"), eos_token=EOS, pad_token="<pad>"
    )
    hf.save_pretrained(folder)
    return folder


def _vocab_size(tokenizer_dir: str) -> int:
    from tokenizers import Tokenizer

    return Tokenizer.from_file(os.path.join(tokenizer_dir, "tokenizer.json")).get_vocab_size()


@pytest.fixture(scope="session")
def hf_model_dir(tokenizer_dir, tmp_path_factory) -> str:
    """A tiny random OlmoForCausalLM saved with the tokenizer (lm-eval's hf backend reads it)."""
    import shutil

    from transformers import OlmoConfig, OlmoForCausalLM

    folder = str(tmp_path_factory.mktemp("hf_olmo"))
    torch.manual_seed(0)
    config = OlmoConfig(
        vocab_size=512, hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
        num_key_value_heads=4, max_position_embeddings=64, pad_token_id=1, bos_token_id=None, eos_token_id=0,
        tie_word_embeddings=False,
    )  # fmt: skip
    model = OlmoForCausalLM(config).eval()
    with torch.no_grad():  # larger weights than the default init, so choices get clearly different scores
        for p in model.parameters():
            if p.dim() == 2:
                p.normal_(0, 0.2)
    model.save_pretrained(folder)
    for name in os.listdir(tokenizer_dir):
        shutil.copy(os.path.join(tokenizer_dir, name), folder)
    return folder


@pytest.fixture(scope="session")
def lmforge_model_dir(tokenizer_dir, tmp_path_factory) -> str:
    from lmforge.models import save_model_folder
    from lmforge.nn.config import ModelConfig
    from lmforge.nn.init import build_model

    folder = str(tmp_path_factory.mktemp("lmforge_model"))
    config = ModelConfig(
        d_model=32, n_layers=2, n_heads=4, mlp_hidden_size=64, vocab_size=_vocab_size(tokenizer_dir),
        max_sequence_length=64, eos_token_id=0, pad_token_id=1, init_fn="normal", init_std=0.2,
    )  # fmt: skip
    save_model_folder(
        build_model(config, seed=3), folder, tokenizer_file=os.path.join(tokenizer_dir, "tokenizer.json")
    )
    return folder


@pytest.fixture(scope="session")
def data_dir(tmp_path_factory) -> str:
    folder = str(tmp_path_factory.mktemp("eval_data"))
    for task, rows in TASK_ROWS.items():
        write_jsonl_gz(os.path.join(folder, f"{task}.validation.jsonl.gz"), rows)
        write_jsonl_gz(os.path.join(folder, f"{task}.train.jsonl.gz"), rows[::-1])
    for split, rows in MMLU_ROWS.items():
        write_jsonl_gz(os.path.join(folder, f"mmlu.{split}.jsonl.gz"), rows)
    return folder
